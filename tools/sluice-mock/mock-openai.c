/* mock-openai.c: the OpenAI chat-completions wire format
 *
 * POST /v1/chat/completions (and /chat/completions). The bodies are the
 * ones OpenAI sends, byte for byte where a client might look: error
 * objects with type and code, chat.completion, and with "stream": true the
 * chat.completion.chunk events ending in data: [DONE].
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-provider.h"

#include <string.h>

#define DEFAULT_MODEL "gpt-mock"
#define DELTA_BYTES 4   /* about one token */

#define ERROR_JSON(message, type, param, code) \
  "{\"error\":{\"message\":\"" message "\",\"type\":\"" type "\",\"param\":" param ",\"code\":" code "}}"

static const char body_rate_limit[] =
  ERROR_JSON ("Rate limit reached for requests per min (RPM) in organization org-mock: "
              "Limit 60, Used 60, Requested 1. Please try again later. Visit "
              "https://platform.openai.com/account/rate-limits to learn more.",
              "requests", "null", "\"rate_limit_exceeded\"");
static const char body_server_error[] =
  ERROR_JSON ("The server had an error while processing your request. Sorry about that!",
              "server_error", "null", "null");
static const char body_overloaded[] =
  ERROR_JSON ("The engine is currently overloaded, please try again later.",
              "server_error", "null", "\"overloaded\"");
static const char body_unauthorized[] =
  ERROR_JSON ("Incorrect API key provided. You can find your API key at "
              "https://platform.openai.com/account/api-keys.",
              "invalid_request_error", "null", "\"invalid_api_key\"");
static const char body_invalid_json[] =
  ERROR_JSON ("We could not parse the JSON body of your request. (HINT: This likely means "
              "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
              "payload, but what was sent was not valid JSON.)",
              "invalid_request_error", "null", "null");
static const char body_not_object[] =
  ERROR_JSON ("The request body must be a JSON object.",
              "invalid_request_error", "null", "null");
static const char body_missing_messages[] =
  ERROR_JSON ("Missing required parameter: 'messages'.",
              "invalid_request_error", "\"messages\"", "\"missing_required_parameter\"");
static const char body_messages_type[] =
  ERROR_JSON ("Invalid type for 'messages': expected an array.",
              "invalid_request_error", "\"messages\"", "\"invalid_type\"");

static void
openai_set_headers (SoupMessageHeaders *headers,
                    guint64             serial)
{
  char request_id[48];

  g_snprintf (request_id, sizeof request_id, "req_mock_%" G_GUINT64_FORMAT, serial);
  soup_message_headers_replace (headers, "x-request-id", request_id);
}

static gboolean
openai_authorize (SoupServerMessage *msg,
                  GHashTable        *query G_GNUC_UNUSED,
                  const char        *require_key,
                  MockError         *error,
                  const char       **message)
{
  const char *auth;

  if (mock_key_ok (NULL, require_key))
    return TRUE;
  auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                       "Authorization");
  if (auth != NULL && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0)
    {
      auth += 7;
      while (*auth == ' ')
        auth++;
      if (mock_key_ok (auth, require_key))
        return TRUE;
    }
  *error = MOCK_ERROR_UNAUTHORIZED;
  *message = NULL;
  return FALSE;
}

static gboolean
member_true (JsonObject *obj,
             const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);
}

static gboolean
openai_parse (JsonParser  *parser,
              const char  *path G_GNUC_UNUSED,
              const char  *data,
              gsize        len,
              MockRequest *req,
              GString     *collect,
              GString     *error_body)
{
  JsonNode *root, *messages, *options;
  JsonObject *obj;
  JsonArray *array;
  const char *model;

  if (!mock_json_parse (parser, data, len) ||
      (root = json_parser_get_root (parser)) == NULL)
    {
      g_string_append (error_body, body_invalid_json);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_string_append (error_body, body_not_object);
      return FALSE;
    }
  obj = json_node_get_object (root);
  messages = json_object_get_member (obj, "messages");
  if (messages == NULL)
    {
      g_string_append (error_body, body_missing_messages);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (messages))
    {
      g_string_append (error_body, body_messages_type);
      return FALSE;
    }

  model = mock_member_string (obj, "model");
  req->model = model != NULL ? model : DEFAULT_MODEL;
  req->stream = member_true (obj, "stream");
  options = json_object_get_member (obj, "stream_options");
  req->include_usage = options != NULL && JSON_NODE_HOLDS_OBJECT (options) &&
                       member_true (json_node_get_object (options), "include_usage");

  req->prompt_tokens = 3;
  array = json_node_get_array (messages);
  for (guint i = 0, n = json_array_get_length (array); i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *message;
      const char *role, *text;
      gboolean is_user;
      gsize bytes;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      message = json_node_get_object (element);
      role = mock_member_string (message, "role");
      is_user = g_strcmp0 (role, "user") == 0;
      bytes = mock_content_text (json_object_get_member (message, "content"), &text,
                                 is_user ? collect : NULL);
      req->prompt_tokens += mock_tokens_for_bytes (bytes) + 4;
      if (is_user)
        mock_request_set_user_text (req, text, bytes, collect);
    }
  return TRUE;
}

static void
append_usage (GString          *out,
              const MockAnswer *answer)
{
  g_string_append_printf (out,
                          "\"usage\":{\"prompt_tokens\":%" G_GINT64_FORMAT ","
                          "\"completion_tokens\":%" G_GINT64_FORMAT ","
                          "\"total_tokens\":%" G_GINT64_FORMAT "}",
                          answer->prompt_tokens, answer->completion_tokens,
                          answer->total_tokens);
}

static void
openai_append_answer (GString           *out,
                      const MockRequest *req,
                      const MockAnswer  *answer)
{
  g_string_append_printf (out,
                          "{\"id\":\"chatcmpl-mock-%" G_GUINT64_FORMAT "\","
                          "\"object\":\"chat.completion\","
                          "\"created\":%" G_GINT64_FORMAT ","
                          "\"model\":",
                          answer->serial, g_get_real_time () / G_USEC_PER_SEC);
  mock_append_json_string (out, req->model, strlen (req->model));
  g_string_append (out,
                   ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                   "\"content\":");
  mock_append_json_string (out, answer->content, answer->content_len);
  g_string_append_printf (out, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"%s\"}],",
                          answer->length_cut ? "length" : "stop");
  if (answer->with_usage)
    {
      append_usage (out, answer);
      g_string_append_c (out, ',');
    }
  g_string_append (out, "\"system_fingerprint\":\"fp_sluice_mock\"}");
}

/* Everything of a chunk up to its "choices" value. */
static void
chunk_head (GString           *out,
            const MockRequest *req,
            const MockAnswer  *answer,
            gint64             created)
{
  g_string_append_printf (out,
                          "{\"id\":\"chatcmpl-mock-%" G_GUINT64_FORMAT "\","
                          "\"object\":\"chat.completion.chunk\","
                          "\"created\":%" G_GINT64_FORMAT ","
                          "\"model\":",
                          answer->serial, created);
  mock_append_json_string (out, req->model, strlen (req->model));
  g_string_append (out, ",\"system_fingerprint\":\"fp_sluice_mock\",\"choices\":");
}

/* OpenAI puts "usage": null on every chunk but the usage one when usage was
 * asked for. */
static void
chunk_tail (GString  *out,
            gboolean  usage_null)
{
  g_string_append (out, usage_null ? ",\"usage\":null}" : "}");
}

static void
openai_append_events (GArray            *events,
                      const MockRequest *req,
                      const MockAnswer  *answer)
{
  gint64 created = g_get_real_time () / G_USEC_PER_SEC;
  gboolean usage = req->include_usage && answer->with_usage;
  MockEvent *e;

  e = mock_event_add (events, NULL);
  chunk_head (e->data, req, answer, created);
  g_string_append (e->data, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                            "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]");
  chunk_tail (e->data, usage);

  for (gsize at = 0, n; at < answer->content_len; at += n)
    {
      n = mock_utf8_piece (answer->content + at, answer->content_len - at, DELTA_BYTES);
      e = mock_event_add (events, NULL);
      e->is_delta = TRUE;
      chunk_head (e->data, req, answer, created);
      g_string_append (e->data, "[{\"index\":0,\"delta\":{\"content\":");
      e->break_at = e->data->len + 1 + mock_utf8_piece (answer->content + at, n, n / 2);
      mock_append_json_string (e->data, answer->content + at, n);
      g_string_append (e->data, "},\"logprobs\":null,\"finish_reason\":null}]");
      chunk_tail (e->data, usage);
    }

  e = mock_event_add (events, NULL);
  e->terminal = TRUE;
  chunk_head (e->data, req, answer, created);
  g_string_append_printf (e->data, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}]",
                          answer->length_cut ? "length" : "stop");
  chunk_tail (e->data, usage);

  if (usage)
    {
      e = mock_event_add (events, NULL);
      e->terminal = TRUE;
      chunk_head (e->data, req, answer, created);
      g_string_append_printf (e->data,
                              "[],\"usage\":{\"prompt_tokens\":%" G_GINT64_FORMAT ","
                              "\"completion_tokens\":%" G_GINT64_FORMAT ","
                              "\"total_tokens\":%" G_GINT64_FORMAT ","
                              "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                              "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
                              answer->prompt_tokens, answer->completion_tokens,
                              answer->total_tokens);
    }

  e = mock_event_add (events, NULL);
  e->terminal = TRUE;
  g_string_append (e->data, "[DONE]");
}

static guint
openai_error_status (MockError error)
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

static void
openai_append_error (GString    *out,
                     MockError   error,
                     guint       status,
                     const char *message,
                     guint64     serial G_GNUC_UNUSED,
                     gint64      retry_ms G_GNUC_UNUSED)
{
  if (message == NULL)
    {
      switch (error)
        {
        case MOCK_ERROR_UNAUTHORIZED:
          g_string_append (out, body_unauthorized);
          return;
        case MOCK_ERROR_RATE_LIMIT:
          g_string_append (out, body_rate_limit);
          return;
        case MOCK_ERROR_SERVER:
          g_string_append (out, body_server_error);
          return;
        case MOCK_ERROR_OVERLOADED:
          g_string_append (out, body_overloaded);
          return;
        default:
          message = "The request could not be served.";
          break;
        }
    }
  g_string_append (out, "{\"error\":{\"message\":");
  mock_append_json_string (out, message, strlen (message));
  g_string_append_printf (out, ",\"type\":\"%s\",\"param\":null,\"code\":null}}",
                          status < 500 ? "invalid_request_error" : "server_error");
}

/* Go's time.Duration text, as OpenAI writes x-ratelimit-reset-*: "1s",
 * "250ms", "1.5s", "6m0s". */
static void
format_go_duration (char   *buf,
                    gsize   size,
                    gint64  ms)
{
  if (ms < 1000)
    g_snprintf (buf, size, "%" G_GINT64_FORMAT "ms", ms);
  else if (ms < 60000 && ms % 1000 == 0)
    g_snprintf (buf, size, "%" G_GINT64_FORMAT "s", ms / 1000);
  else if (ms < 60000)
    g_snprintf (buf, size, "%" G_GINT64_FORMAT ".%03ds", ms / 1000, (int) (ms % 1000));
  else
    g_snprintf (buf, size, "%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s",
                ms / 60000, (ms % 60000) / 1000);
}

static void
openai_set_rate_limit_headers (SoupMessageHeaders *headers,
                               gint64              retry_ms)
{
  char reset[32];

  format_go_duration (reset, sizeof reset, retry_ms);
  soup_message_headers_replace (headers, "x-ratelimit-limit-requests", "60");
  soup_message_headers_replace (headers, "x-ratelimit-remaining-requests", "0");
  soup_message_headers_replace (headers, "x-ratelimit-reset-requests", reset);
  soup_message_headers_replace (headers, "x-ratelimit-limit-tokens", "150000");
  soup_message_headers_replace (headers, "x-ratelimit-remaining-tokens", "149000");
  soup_message_headers_replace (headers, "x-ratelimit-reset-tokens", "400ms");
}

const MockProvider mock_openai = {
  .name = "openai",
  .stream_type = "text/event-stream; charset=utf-8",
  .retry_after = TRUE,
  .eol = "\n",
  .set_headers = openai_set_headers,
  .authorize = openai_authorize,
  .parse = openai_parse,
  .append_answer = openai_append_answer,
  .append_events = openai_append_events,
  .error_status = openai_error_status,
  .append_error = openai_append_error,
  .set_rate_limit_headers = openai_set_rate_limit_headers,
};
