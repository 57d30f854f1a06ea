/* mock-gemini.c: the Gemini generateContent wire format
 *
 * POST /v1beta/models/MODEL:generateContent and :streamGenerateContent
 * (served as server-sent events, as clients ask with ?alt=sse). The key
 * comes in x-goog-api-key or ?key=. Errors are google.rpc.Status objects;
 * a 429 carries its delay in a RetryInfo detail.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-provider.h"

#include <string.h>

#define DELTA_BYTES 32   /* Gemini streams chunks of several tokens */
#define PATH_PREFIX "/v1beta/models/"

static void
gemini_set_headers (SoupMessageHeaders *headers G_GNUC_UNUSED,
                    guint64             serial G_GNUC_UNUSED)
{
  /* Gemini has no request id header: the id is the body's responseId. */
}

static gboolean
gemini_authorize (SoupServerMessage *msg,
                  GHashTable        *query,
                  const char        *require_key,
                  MockError         *error,
                  const char       **message)
{
  const char *key;

  key = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                      "x-goog-api-key");
  if (key == NULL && query != NULL)
    key = g_hash_table_lookup (query, "key");
  if (mock_key_ok (key, require_key))
    return TRUE;
  *error = MOCK_ERROR_UNAUTHORIZED;
  *message = NULL;
  return FALSE;
}

static guint
gemini_error_status (MockError error)
{
  static const guint status[] = {
    [MOCK_ERROR_INVALID_REQUEST] = 400,
    [MOCK_ERROR_UNAUTHORIZED] = 401,
    [MOCK_ERROR_NOT_FOUND] = 404,
    [MOCK_ERROR_RATE_LIMIT] = 429,
    [MOCK_ERROR_SERVER] = 500,
    [MOCK_ERROR_OVERLOADED] = 503,
    [MOCK_ERROR_STATUS] = 500,
  };

  return status[error];
}

/* The google.rpc.Code name Google's HTTP mapping gives @status. */
static const char *
status_name (guint status)
{
  switch (status)
    {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ABORTED";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status < 500 ? "INVALID_ARGUMENT" : "INTERNAL";
    }
}

static void
gemini_append_error (GString    *out,
                     MockError   error,
                     guint       status,
                     const char *message,
                     guint64     serial G_GNUC_UNUSED,
                     gint64      retry_ms)
{
  if (message == NULL)
    {
      switch (error)
        {
        case MOCK_ERROR_UNAUTHORIZED:
          message = "API key not valid. Please pass a valid API key.";
          break;
        case MOCK_ERROR_RATE_LIMIT:
          message = "You exceeded your current quota, please check your plan and billing "
                    "details. For more information on this error, head to: "
                    "https://ai.google.dev/gemini-api/docs/rate-limits.";
          break;
        case MOCK_ERROR_SERVER:
          message = "An internal error has occurred. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting";
          break;
        case MOCK_ERROR_OVERLOADED:
          message = "The model is overloaded. Please try again later.";
          break;
        case MOCK_ERROR_NOT_FOUND:
          message = "Requested entity was not found.";
          break;
        default:
          message = "Request contains an invalid argument.";
          break;
        }
    }
  g_string_append_printf (out, "{\"error\":{\"code\":%u,\"message\":", status);
  mock_append_json_string (out, message, strlen (message));
  g_string_append_printf (out, ",\"status\":\"%s\"", status_name (status));
  if (status == 429)
    {
      /* Clients must find RetryInfo among the details, not at [0]. */
      g_string_append (out, ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\","
                            "\"violations\":[{\"quotaMetric\":\"generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests\",\"quotaId\":"
                            "\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\","
                            "\"quotaValue\":\"10\"}]},"
                            "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"");
      retry_ms = MAX (retry_ms, 0);
      if (retry_ms % 1000 == 0)
        g_string_append_printf (out, "%" G_GINT64_FORMAT "s", retry_ms / 1000);
      else
        g_string_append_printf (out, "%" G_GINT64_FORMAT ".%03ds", retry_ms / 1000,
                                (int) (retry_ms % 1000));
      g_string_append (out, "\"}]");
    }
  g_string_append (out, "}}");
}

static void
invalid (GString    *error_body,
         const char *message)
{
  gemini_append_error (error_body, MOCK_ERROR_INVALID_REQUEST, 400, message, 0, -1);
}

/* The model of "/v1beta/models/MODEL:method", interned: it names the
 * answer's modelVersion. */
static const char *
model_of_path (const char *path)
{
  g_autofree char *model = NULL;
  const char *start, *colon;

  if (!g_str_has_prefix (path, PATH_PREFIX))
    return "gemini-mock";
  start = path + strlen (PATH_PREFIX);
  colon = strrchr (start, ':');
  model = g_uri_unescape_segment (start, colon, NULL);
  return model != NULL && *model != '\0' ? g_intern_string (model) : "gemini-mock";
}

static gboolean
gemini_parse (JsonParser  *parser,
              const char  *path,
              const char  *data,
              gsize        len,
              MockRequest *req,
              GString     *collect,
              GString     *error_body)
{
  JsonNode *root, *contents, *system;
  JsonObject *obj;
  JsonArray *array;
  const char *text;

  if (!mock_json_parse (parser, data, len) ||
      (root = json_parser_get_root (parser)) == NULL)
    {
      invalid (error_body, "Invalid JSON payload received. Unexpected token.");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      invalid (error_body, "Invalid JSON payload received. Expected an object.");
      return FALSE;
    }
  obj = json_node_get_object (root);
  contents = json_object_get_member (obj, "contents");
  if (contents == NULL)
    {
      invalid (error_body, "* GenerateContentRequest.contents: contents is not specified\n");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (contents))
    {
      invalid (error_body, "Invalid value at 'contents', expected a list of Content.");
      return FALSE;
    }

  req->model = model_of_path (path);
  req->stream = g_str_has_suffix (path, ":streamGenerateContent");

  /* The same count as for OpenAI, with the system instruction as one more
   * message. The REST API takes both spellings. */
  req->prompt_tokens = 3;
  system = json_object_get_member (obj, "systemInstruction");
  if (system == NULL)
    system = json_object_get_member (obj, "system_instruction");
  if (system != NULL && JSON_NODE_HOLDS_OBJECT (system))
    req->prompt_tokens += mock_tokens_for_bytes (
      mock_content_text (json_object_get_member (json_node_get_object (system), "parts"),
                         &text, NULL)) + 4;

  array = json_node_get_array (contents);
  for (guint i = 0, n = json_array_get_length (array); i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *content;
      const char *role;
      gboolean is_user;
      gsize bytes;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      content = json_node_get_object (element);
      role = mock_member_string (content, "role");
      /* A content without a role is the user's. */
      is_user = role == NULL || g_str_equal (role, "user");
      bytes = mock_content_text (json_object_get_member (content, "parts"), &text,
                                 is_user ? collect : NULL);
      req->prompt_tokens += mock_tokens_for_bytes (bytes) + 4;
      if (is_user)
        mock_request_set_user_text (req, text, bytes, collect);
    }
  return TRUE;
}

static void
append_candidate (GString    *out,
                  const char *text,
                  gsize       len,
                  gboolean    last,
                  gboolean    length_cut)
{
  g_string_append (out, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":");
  mock_append_json_string (out, text, len);
  g_string_append (out, "}],\"role\":\"model\"}");
  if (last)
    g_string_append_printf (out, ",\"finishReason\":\"%s\"", length_cut ? "MAX_TOKENS" : "STOP");
  g_string_append (out, ",\"index\":0}]");
}

static void
append_tail (GString           *out,
             const MockRequest *req,
             const MockAnswer  *answer,
             gboolean           last)
{
  if (last && answer->with_usage)
    g_string_append_printf (out, ",\"usageMetadata\":{\"promptTokenCount\":%" G_GINT64_FORMAT ","
                                 "\"candidatesTokenCount\":%" G_GINT64_FORMAT ","
                                 "\"totalTokenCount\":%" G_GINT64_FORMAT "}",
                            answer->prompt_tokens, answer->completion_tokens,
                            answer->total_tokens);
  g_string_append (out, ",\"modelVersion\":");
  mock_append_json_string (out, req->model, strlen (req->model));
  g_string_append_printf (out, ",\"responseId\":\"mock-%" G_GUINT64_FORMAT "\"}", answer->serial);
}

static void
gemini_append_answer (GString           *out,
                      const MockRequest *req,
                      const MockAnswer  *answer)
{
  append_candidate (out, answer->content, answer->content_len, TRUE, answer->length_cut);
  append_tail (out, req, answer, TRUE);
}

static void
gemini_append_events (GArray            *events,
                      const MockRequest *req,
                      const MockAnswer  *answer)
{
  gsize at = 0;

  do
    {
      gsize n = mock_utf8_piece (answer->content + at, answer->content_len - at, DELTA_BYTES);
      gboolean last = at + n >= answer->content_len;
      MockEvent *e = mock_event_add (events, NULL);

      e->is_delta = TRUE;
      e->terminal = last;
      e->break_at = strlen ("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":") + 1 +
                    mock_utf8_piece (answer->content + at, n, n / 2);
      append_candidate (e->data, answer->content + at, n, last, answer->length_cut);
      append_tail (e->data, req, answer, last);
      at += n;
    }
  while (at < answer->content_len);
}

static void
gemini_set_rate_limit_headers (SoupMessageHeaders *headers G_GNUC_UNUSED,
                               gint64              retry_ms G_GNUC_UNUSED)
{
  /* The delay is in the body's RetryInfo. */
}

const MockProvider mock_gemini = {
  .name = "gemini",
  .stream_type = "text/event-stream",
  .retry_after = FALSE,
  .eol = "\r\n",
  .set_headers = gemini_set_headers,
  .authorize = gemini_authorize,
  .parse = gemini_parse,
  .append_answer = gemini_append_answer,
  .append_events = gemini_append_events,
  .error_status = gemini_error_status,
  .append_error = gemini_append_error,
  .set_rate_limit_headers = gemini_set_rate_limit_headers,
};
