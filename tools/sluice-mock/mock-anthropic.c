/* mock-anthropic.c: the Anthropic Messages wire format
 *
 * POST /v1/messages with x-api-key and anthropic-version. A forced tool
 * (tool_choice {"type": "tool"} or {"type": "any"}) is answered with a
 * tool_use block whose input is the answer object, the way structured
 * output is asked of Claude. Streams are the real event sequence:
 * message_start, content_block_start, ping, content_block_delta...,
 * content_block_stop, message_delta, message_stop.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-provider.h"

#include <string.h>

#define DELTA_BYTES 12   /* Claude streams a few words per delta */

static void
anthropic_set_headers (SoupMessageHeaders *headers,
                       guint64             serial)
{
  char request_id[48];

  g_snprintf (request_id, sizeof request_id, "req_mock_%" G_GUINT64_FORMAT, serial);
  soup_message_headers_replace (headers, "request-id", request_id);
}

static gboolean
anthropic_authorize (SoupServerMessage *msg,
                     GHashTable        *query G_GNUC_UNUSED,
                     const char        *require_key,
                     MockError         *error,
                     const char       **message)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  if (!mock_key_ok (soup_message_headers_get_one (headers, "x-api-key"), require_key))
    {
      *error = MOCK_ERROR_UNAUTHORIZED;
      *message = NULL;
      return FALSE;
    }
  if (soup_message_headers_get_one (headers, "anthropic-version") == NULL)
    {
      *error = MOCK_ERROR_INVALID_REQUEST;
      *message = "anthropic-version: header is required";
      return FALSE;
    }
  return TRUE;
}

static guint
anthropic_error_status (MockError error)
{
  static const guint status[] = {
    [MOCK_ERROR_INVALID_REQUEST] = 400,
    [MOCK_ERROR_UNAUTHORIZED] = 401,
    [MOCK_ERROR_NOT_FOUND] = 404,
    [MOCK_ERROR_RATE_LIMIT] = 429,
    [MOCK_ERROR_SERVER] = 500,
    [MOCK_ERROR_OVERLOADED] = 529,
    [MOCK_ERROR_STATUS] = 500,
  };

  return status[error];
}

static const char *
error_type (guint status)
{
  switch (status)
    {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return status < 500 ? "invalid_request_error" : "api_error";
    }
}

static void
anthropic_append_error (GString    *out,
                        MockError   error,
                        guint       status,
                        const char *message,
                        guint64     serial,
                        gint64      retry_ms G_GNUC_UNUSED)
{
  if (message == NULL)
    {
      switch (error)
        {
        case MOCK_ERROR_UNAUTHORIZED: message = "invalid x-api-key"; break;
        case MOCK_ERROR_RATE_LIMIT:
          message = "This request would exceed the rate limit for your organization "
                    "(mock) of 50 requests per minute. For details, refer to: "
                    "https://docs.claude.com/en/api/rate-limits.";
          break;
        case MOCK_ERROR_SERVER: message = "Internal server error"; break;
        case MOCK_ERROR_OVERLOADED: message = "Overloaded"; break;
        case MOCK_ERROR_NOT_FOUND: message = "Not found"; break;
        default: message = "Invalid request"; break;
        }
    }
  g_string_append_printf (out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                          error_type (status));
  mock_append_json_string (out, message, strlen (message));
  g_string_append_printf (out, "},\"request_id\":\"req_mock_%" G_GUINT64_FORMAT "\"}", serial);
}

static void
invalid (GString           *error_body,
         const MockRequest *req,
         const char        *message)
{
  anthropic_append_error (error_body, MOCK_ERROR_INVALID_REQUEST, 400, message, req->serial, -1);
}

/* The tool the answer must call: a named one, or the first of several
 * when any tool will do. */
static const char *
forced_tool (JsonObject *obj)
{
  JsonNode *choice = json_object_get_member (obj, "tool_choice");
  JsonNode *tools = json_object_get_member (obj, "tools");
  const char *type;

  if (choice == NULL || !JSON_NODE_HOLDS_OBJECT (choice))
    return NULL;
  type = mock_member_string (json_node_get_object (choice), "type");
  if (g_strcmp0 (type, "tool") == 0)
    return mock_member_string (json_node_get_object (choice), "name");
  if (g_strcmp0 (type, "any") == 0 && tools != NULL && JSON_NODE_HOLDS_ARRAY (tools) &&
      json_array_get_length (json_node_get_array (tools)) > 0)
    {
      JsonNode *first = json_array_get_element (json_node_get_array (tools), 0);

      if (JSON_NODE_HOLDS_OBJECT (first))
        return mock_member_string (json_node_get_object (first), "name");
    }
  return NULL;
}

static gboolean
anthropic_parse (JsonParser  *parser,
                 const char  *path G_GNUC_UNUSED,
                 const char  *data,
                 gsize        len,
                 MockRequest *req,
                 GString     *collect,
                 GString     *error_body)
{
  JsonNode *root, *messages, *max_tokens, *stream;
  JsonObject *obj;
  JsonArray *array;
  const char *text;

  if (!mock_json_parse (parser, data, len) ||
      (root = json_parser_get_root (parser)) == NULL)
    {
      invalid (error_body, req, "There was an error parsing the body of your request: "
                                "it is not valid JSON.");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      invalid (error_body, req, "The request body must be a JSON object.");
      return FALSE;
    }
  obj = json_node_get_object (root);
  req->model = mock_member_string (obj, "model");
  if (req->model == NULL)
    {
      invalid (error_body, req, "model: Field required");
      return FALSE;
    }
  max_tokens = json_object_get_member (obj, "max_tokens");
  if (max_tokens == NULL)
    {
      invalid (error_body, req, "max_tokens: Field required");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_VALUE (max_tokens) || json_node_get_value_type (max_tokens) != G_TYPE_INT64)
    {
      invalid (error_body, req, "max_tokens: Input should be a valid integer");
      return FALSE;
    }
  messages = json_object_get_member (obj, "messages");
  if (messages == NULL)
    {
      invalid (error_body, req, "messages: Field required");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (messages))
    {
      invalid (error_body, req, "messages: Input should be a valid list");
      return FALSE;
    }

  stream = json_object_get_member (obj, "stream");
  req->stream = stream != NULL && JSON_NODE_HOLDS_VALUE (stream) &&
                json_node_get_value_type (stream) == G_TYPE_BOOLEAN &&
                json_node_get_boolean (stream);
  req->tool_name = forced_tool (obj);

  /* The same count as for OpenAI, with the system prompt as one more
   * message. */
  req->prompt_tokens = 3;
  if (json_object_has_member (obj, "system"))
    req->prompt_tokens += mock_tokens_for_bytes (
      mock_content_text (json_object_get_member (obj, "system"), &text, NULL)) + 4;
  array = json_node_get_array (messages);
  for (guint i = 0, n = json_array_get_length (array); i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *message;
      gboolean is_user;
      gsize bytes;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      message = json_node_get_object (element);
      is_user = g_strcmp0 (mock_member_string (message, "role"), "user") == 0;
      bytes = mock_content_text (json_object_get_member (message, "content"), &text,
                                 is_user ? collect : NULL);
      req->prompt_tokens += mock_tokens_for_bytes (bytes) + 4;
      if (is_user)
        mock_request_set_user_text (req, text, bytes, collect);
    }
  return TRUE;
}

/* A tool's input must be an object: the answer when it is one, else the
 * answer wrapped as {"text": ...} (a prose bad_answer, a scenario's text). */
static GString *
tool_input (const MockAnswer *answer)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = g_strndup (answer->content, answer->content_len);
  GString *out = g_string_sized_new (answer->content_len + 16);

  node = json_from_string (text, NULL);
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    g_string_append_len (out, answer->content, (gssize) answer->content_len);
  else
    {
      g_string_append (out, "{\"text\":");
      mock_append_json_string (out, answer->content, answer->content_len);
      g_string_append_c (out, '}');
    }
  return out;
}

static void
append_message_head (GString           *out,
                     const MockRequest *req,
                     const MockAnswer  *answer)
{
  g_string_append_printf (out, "{\"id\":\"msg_mock_%" G_GUINT64_FORMAT "\",\"type\":\"message\","
                               "\"role\":\"assistant\",\"model\":", answer->serial);
  mock_append_json_string (out, req->model, strlen (req->model));
}

static void
append_tool_block_head (GString           *out,
                        const MockRequest *req,
                        const MockAnswer  *answer)
{
  g_string_append_printf (out, "{\"type\":\"tool_use\",\"id\":\"toolu_mock_%" G_GUINT64_FORMAT "\","
                               "\"name\":", answer->serial);
  mock_append_json_string (out, req->tool_name, strlen (req->tool_name));
  g_string_append (out, ",\"input\":");
}

static void
anthropic_append_answer (GString           *out,
                         const MockRequest *req,
                         const MockAnswer  *answer)
{
  append_message_head (out, req, answer);
  g_string_append (out, ",\"content\":[");
  if (req->tool_name != NULL)
    {
      GString *input = tool_input (answer);

      append_tool_block_head (out, req, answer);
      g_string_append_len (out, input->str, (gssize) input->len);
      g_string_append_printf (out, "}],\"stop_reason\":\"%s\"", answer->length_cut ? "max_tokens" : "tool_use");
      g_string_free (input, TRUE);
    }
  else
    {
      g_string_append (out, "{\"type\":\"text\",\"text\":");
      mock_append_json_string (out, answer->content, answer->content_len);
      g_string_append_printf (out, "}],\"stop_reason\":\"%s\"", answer->length_cut ? "max_tokens" : "end_turn");
    }
  g_string_append (out, ",\"stop_sequence\":null");
  if (answer->with_usage)
    g_string_append_printf (out, ",\"usage\":{\"input_tokens\":%" G_GINT64_FORMAT ","
                                 "\"output_tokens\":%" G_GINT64_FORMAT ","
                                 "\"cache_creation_input_tokens\":0,"
                                 "\"cache_read_input_tokens\":0}",
                            answer->prompt_tokens, answer->completion_tokens);
  g_string_append_c (out, '}');
}

static void
anthropic_append_events (GArray            *events,
                         const MockRequest *req,
                         const MockAnswer  *answer)
{
  GString *input = req->tool_name != NULL ? tool_input (answer) : NULL;
  const char *text = input != NULL ? input->str : answer->content;
  gsize text_len = input != NULL ? input->len : answer->content_len;
  MockEvent *e;

  e = mock_event_add (events, "message_start");
  g_string_append (e->data, "{\"type\":\"message_start\",\"message\":");
  append_message_head (e->data, req, answer);
  g_string_append (e->data, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null");
  /* The real message_start counts one output token already; message_delta
   * carries the total. */
  if (answer->with_usage)
    g_string_append_printf (e->data, ",\"usage\":{\"input_tokens\":%" G_GINT64_FORMAT ","
                                     "\"cache_creation_input_tokens\":0,"
                                     "\"cache_read_input_tokens\":0,\"output_tokens\":1}",
                            answer->prompt_tokens);
  g_string_append (e->data, "}}");

  e = mock_event_add (events, "content_block_start");
  g_string_append (e->data, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":");
  if (input != NULL)
    {
      append_tool_block_head (e->data, req, answer);
      g_string_append (e->data, "{}}}");
    }
  else
    g_string_append (e->data, "{\"type\":\"text\",\"text\":\"\"}}");

  e = mock_event_add (events, "ping");
  g_string_append (e->data, "{\"type\":\"ping\"}");

  for (gsize at = 0, n; at < text_len; at += n)
    {
      n = mock_utf8_piece (text + at, text_len - at, DELTA_BYTES);
      e = mock_event_add (events, "content_block_delta");
      e->is_delta = TRUE;
      g_string_append (e->data, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":");
      g_string_append (e->data, input != NULL ? "{\"type\":\"input_json_delta\",\"partial_json\":"
                                              : "{\"type\":\"text_delta\",\"text\":");
      e->break_at = e->data->len + 1 + mock_utf8_piece (text + at, n, n / 2);
      mock_append_json_string (e->data, text + at, n);
      g_string_append (e->data, "}}");
    }

  e = mock_event_add (events, "content_block_stop");
  g_string_append (e->data, "{\"type\":\"content_block_stop\",\"index\":0}");

  e = mock_event_add (events, "message_delta");
  e->terminal = TRUE;
  g_string_append_printf (e->data, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
                                   "\"stop_sequence\":null}",
                          answer->length_cut ? "max_tokens" : input != NULL ? "tool_use" : "end_turn");
  if (answer->with_usage)
    g_string_append_printf (e->data, ",\"usage\":{\"output_tokens\":%" G_GINT64_FORMAT "}",
                            answer->completion_tokens);
  g_string_append_c (e->data, '}');

  e = mock_event_add (events, "message_stop");
  e->terminal = TRUE;
  g_string_append (e->data, "{\"type\":\"message_stop\"}");

  if (input != NULL)
    g_string_free (input, TRUE);
}

static void
anthropic_set_rate_limit_headers (SoupMessageHeaders *headers,
                                  gint64              retry_ms)
{
  g_autofree char *reset = mock_rfc3339_after (retry_ms);

  soup_message_headers_replace (headers, "anthropic-ratelimit-requests-limit", "50");
  soup_message_headers_replace (headers, "anthropic-ratelimit-requests-remaining", "0");
  soup_message_headers_replace (headers, "anthropic-ratelimit-requests-reset", reset);
}

const MockProvider mock_anthropic = {
  .name = "anthropic",
  .stream_type = "text/event-stream; charset=utf-8",
  .retry_after = TRUE,
  .eol = "\n",
  .set_headers = anthropic_set_headers,
  .authorize = anthropic_authorize,
  .parse = anthropic_parse,
  .append_answer = anthropic_append_answer,
  .append_events = anthropic_append_events,
  .error_status = anthropic_error_status,
  .append_error = anthropic_append_error,
  .set_rate_limit_headers = anthropic_set_rate_limit_headers,
};
