/* sluice-anthropic-provider.c — the Anthropic Messages wire protocol.
 *
 * A SluiceHttpProvider subclass: it builds the POST to base_url/messages,
 * reads a message body, an error body and the events of a streamed
 * answer. The exchange itself, Retry-After, stream truncation and keeping
 * the key out of messages belong to the base class.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-anthropic-provider.h"

#include <string.h>

#define DEFAULT_VERSION    "2023-06-01"
#define DEFAULT_MAX_TOKENS 4096
/* The forced tool that carries a structured answer. */
#define ANSWER_TOOL        "answer"

struct _SluiceAnthropicProvider
{
  SluiceHttpProvider  parent_instance;

  char               *version;     /* anthropic-version */
  JsonObject         *parameters;  /* copied into every request body */
};

G_DEFINE_FINAL_TYPE (SluiceAnthropicProvider, sluice_anthropic_provider, SLUICE_TYPE_HTTP_PROVIDER)

/* ---- the target ---------------------------------------------------------------- */

static JsonObject *
get_object (JsonObject *object,
            const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* A member that is absent or null (an empty ${VARIABLE}) is not set. */
static JsonNode *
get_member (JsonObject *object,
            const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

static gboolean
node_is_type (JsonNode *node,
              GType     type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static gboolean
node_is_text (JsonNode *node)
{
  return node_is_type (node, G_TYPE_STRING) && *json_node_get_string (node) != '\0';
}

/* `stop` is a string or an array of strings; Anthropic wants an array. */
static JsonNode *
stop_sequences (JsonNode *node)
{
  g_autoptr(JsonArray) array = json_array_new ();
  JsonArray *given = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  JsonNode *sequences;

  if (node_is_text (node))
    json_array_add_string_element (array, json_node_get_string (node));
  for (guint i = 0; given != NULL && i < json_array_get_length (given); i++)
    {
      if (!node_is_text (json_array_get_element (given, i)))
        return NULL;
      json_array_add_string_element (array, json_array_get_string_element (given, i));
    }
  if (json_array_get_length (array) == 0)
    return NULL;
  sequences = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (sequences, g_steal_pointer (&array));
  return sequences;
}

static gboolean
refuse (GError          **error,
        SluiceErrorCode   code,
        const char       *message)
{
  g_set_error_literal (error, SLUICE_ERROR, code, message);
  return FALSE;
}

/* The request parameters: checked, then copied into every body. */
static gboolean
read_parameters (SluiceAnthropicProvider  *self,
                 JsonObject               *target,
                 GError                  **error)
{
  static const struct { const char *name; char kind; gdouble min, max; const char *message; } members[] = {
    { "max_tokens", 'i', 1, G_MAXINT64, "'max_tokens' must be a positive integer" },
    { "temperature", 'n', 0, 1,
      "'temperature' must be a number from 0 to 1 (Anthropic's range, not OpenAI's 0 to 2)" },
    { "top_p", 'n', 0, 1, "'top_p' must be a number from 0 to 1" },
    { "top_k", 'i', 0, G_MAXINT64, "'top_k' must be a non-negative integer" },
    { "tools", 'a', 0, 0,
      "'tools' must be an array of tool definitions ({name, description, input_schema})" },
    { "tool_choice", 'o', 0, 0, "'tool_choice' must be an object such as {type: auto}" },
  };
  JsonNode *node;

  /* Anthropic requires max_tokens. */
  json_object_set_int_member (self->parameters, "max_tokens", DEFAULT_MAX_TOKENS);
  for (guint i = 0; i < G_N_ELEMENTS (members); i++)
    {
      gboolean ok;

      if ((node = get_member (target, members[i].name)) == NULL)
        continue;
      if (members[i].kind == 'a')
        ok = JSON_NODE_HOLDS_ARRAY (node);
      else if (members[i].kind == 'o')
        ok = JSON_NODE_HOLDS_OBJECT (node);
      else
        ok = (node_is_type (node, G_TYPE_INT64) ||
              (members[i].kind == 'n' && node_is_type (node, G_TYPE_DOUBLE))) &&
             json_node_get_double (node) >= members[i].min && json_node_get_double (node) <= members[i].max;
      if (!ok)
        return refuse (error, SLUICE_ERROR_INVALID_CONFIG, members[i].message);
      json_object_set_member (self->parameters, members[i].name, json_node_copy (node));
    }

  if ((node = get_member (target, "stop")) != NULL)
    {
      JsonNode *sequences = stop_sequences (node);

      if (sequences == NULL)
        return refuse (error, SLUICE_ERROR_INVALID_CONFIG,
                       "'stop' must be a string or an array of strings, none empty");
      json_object_set_member (self->parameters, "stop_sequences", sequences);
    }
  return TRUE;
}

static gboolean
sluice_anthropic_provider_configure (SluiceHttpProvider  *provider,
                                     JsonObject          *target,
                                     GError             **error)
{
  SluiceAnthropicProvider *self = SLUICE_ANTHROPIC_PROVIDER (provider);
  JsonNode *version = get_member (target, "anthropic_version");

  g_clear_pointer (&self->version, g_free);
  g_clear_pointer (&self->parameters, json_object_unref);
  self->parameters = json_object_new ();

  if (version != NULL && (!node_is_text (version) || strpbrk (json_node_get_string (version), "\r\n") != NULL))
    return refuse (error, SLUICE_ERROR_INVALID_CONFIG,
                   "'anthropic_version' must be a one-line string, e.g. 2023-06-01");
  self->version = g_strdup (version != NULL ? json_node_get_string (version) : DEFAULT_VERSION);
  return read_parameters (self, target, error);
}

/* ---- the request --------------------------------------------------------------- */

/* Splits the context's OpenAI-style messages into Anthropic's `system`
 * text and a `messages` array that alternates user and assistant (two
 * messages of one role in a row are joined: the API refuses them). */
static gboolean
convert_messages (JsonArray   *in,
                  char       **out_system,
                  JsonArray  **out_messages,
                  GError     **error)
{
  g_autoptr(GString) system = g_string_new (NULL);
  g_autoptr(JsonArray) messages = json_array_new ();
  JsonObject *last = NULL;
  guint n = in != NULL ? json_array_get_length (in) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (in, i);
      JsonObject *message = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *role = sluice_json_get_string (message, "role");
      const char *content = sluice_json_get_string (message, "content");

      if (role == NULL || content == NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                       "message %u needs a role and a text content", i + 1);
          return FALSE;
        }
      if (g_str_equal (role, "system"))
        {
          if (*content != '\0')
            g_string_append_printf (system, "%s%s", system->len > 0 ? "\n\n" : "", content);
          continue;
        }
      if (!g_str_equal (role, "user") && !g_str_equal (role, "assistant"))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                       "message %u has the role '%s'; Anthropic takes system, user and assistant",
                       i + 1, role);
          return FALSE;
        }
      if (last == NULL && g_str_equal (role, "assistant"))
        return refuse (error, SLUICE_ERROR_BAD_REQUEST,
                       "the first message after the system prompt must be the user's: Anthropic requires it");

      if (last != NULL && g_str_equal (sluice_json_get_string (last, "role"), role))
        {
          g_autofree char *joined = g_strconcat (sluice_json_get_string (last, "content"),
                                                 "\n\n", content, NULL);

          json_object_set_string_member (last, "content", joined);
          continue;
        }
      last = json_object_new ();
      json_object_set_string_member (last, "role", role);
      json_object_set_string_member (last, "content", content);
      json_array_add_object_element (messages, last);
    }

  if (last == NULL)
    return refuse (error, SLUICE_ERROR_BAD_REQUEST, "no messages to send: add an assemble stage");
  *out_system = system->len > 0 ? g_strdup (system->str) : NULL;
  *out_messages = g_steal_pointer (&messages);
  return TRUE;
}

static SoupMessage *
sluice_anthropic_provider_build_message (SluiceHttpProvider  *provider,
                                         SluiceContext       *context,
                                         gboolean             stream,
                                         GError             **error)
{
  SluiceAnthropicProvider *self = SLUICE_ANTHROPIC_PROVIDER (provider);
  JsonObject *schema = sluice_http_provider_get_output_schema (provider);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *system = NULL;
  JsonArray *messages = NULL;
  SoupMessageHeaders *headers;
  SoupMessage *message;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (!convert_messages (sluice_context_get_messages (context), &system, &messages, error))
    return NULL;

  json_object_set_string_member (body, "model", sluice_http_provider_get_model (provider));
  if (system != NULL)
    json_object_set_string_member (body, "system", system);
  json_object_set_array_member (body, "messages", messages);
  json_object_iter_init (&iter, self->parameters);
  while (json_object_iter_next (&iter, &name, &value))
    if (schema == NULL || (!g_str_equal (name, "tools") && !g_str_equal (name, "tool_choice")))
      json_object_set_member (body, name, json_node_copy (value));

  /* Structured output: one tool whose input is the answer, and the model
   * must call it. */
  if (schema != NULL)
    {
      JsonObject *tool = json_object_new ();
      JsonObject *choice = json_object_new ();
      JsonArray *tools = json_array_new ();

      json_object_set_string_member (tool, "name", ANSWER_TOOL);
      json_object_set_string_member (tool, "description", "Give the answer in this shape");
      json_object_set_object_member (tool, "input_schema", json_object_ref (schema));
      json_array_add_object_element (tools, tool);
      json_object_set_array_member (body, "tools", tools);
      json_object_set_string_member (choice, "type", "tool");
      json_object_set_string_member (choice, "name", ANSWER_TOOL);
      json_object_set_object_member (body, "tool_choice", choice);
    }
  if (stream)
    json_object_set_boolean_member (body, "stream", TRUE);

  root = json_node_init_object (json_node_alloc (), body);
  message = sluice_http_provider_new_message (provider, "/messages", root);
  if (message == NULL)
    {
      refuse (error, SLUICE_ERROR_BAD_REQUEST, "cannot build the request URL from base_url");
      return NULL;
    }
  headers = soup_message_get_request_headers (message);
  soup_message_headers_replace (headers, "x-api-key", sluice_http_provider_get_api_key (provider));
  soup_message_headers_replace (headers, "anthropic-version", self->version);
  return message;
}

/* ---- errors -------------------------------------------------------------------- */

/* The kind of an error.type. Anthropic has no type for a prompt that does
 * not fit: that is an invalid request whose message says so. */
static SluiceErrorCode
code_for_error_type (const char      *type,
                     const char      *message,
                     SluiceErrorCode  default_code)
{
  static const struct { const char *type; SluiceErrorCode code; } kinds[] = {
    { "authentication_error", SLUICE_ERROR_AUTH },
    { "permission_error", SLUICE_ERROR_AUTH },
    { "not_found_error", SLUICE_ERROR_NOT_FOUND },
    { "rate_limit_error", SLUICE_ERROR_RATE_LIMITED },
    { "overloaded_error", SLUICE_ERROR_OVERLOADED },
    { "api_error", SLUICE_ERROR_SERVER },
    { "timeout_error", SLUICE_ERROR_TIMEOUT },
    { "request_too_large", SLUICE_ERROR_BAD_REQUEST },
    { "billing_error", SLUICE_ERROR_BUDGET_EXCEEDED },
  };

  if (g_strcmp0 (type, "invalid_request_error") == 0)
    {
      g_autofree char *lower = g_ascii_strdown (message != NULL ? message : "", -1);

      if (strstr (lower, "prompt is too long") != NULL || strstr (lower, "exceed context limit") != NULL ||
          strstr (lower, "context window") != NULL)
        return SLUICE_ERROR_CONTEXT_OVERFLOW;
      return SLUICE_ERROR_BAD_REQUEST;
    }
  for (guint i = 0; type != NULL && i < G_N_ELEMENTS (kinds); i++)
    if (g_str_equal (type, kinds[i].type))
      return kinds[i].code;
  return default_code;
}

static SluiceErrorCode
sluice_anthropic_provider_classify_error (SluiceHttpProvider  *self,
                                          guint                status,
                                          SoupMessageHeaders  *headers,
                                          JsonNode            *root,
                                          SluiceErrorCode      default_code,
                                          char               **out_message,
                                          gint64              *inout_retry_after_ms)
{
  JsonObject *error = root != NULL && JSON_NODE_HOLDS_OBJECT (root)
                        ? get_object (json_node_get_object (root), "error") : NULL;
  const char *message = sluice_json_get_string (error, "message");
  SluiceErrorCode code = code_for_error_type (sluice_json_get_string (error, "type"), message, default_code);

  /* A status that says more than "bad request" (401, 429, 5xx) is not
   * overruled by a body that only says that much. */
  if (code == SLUICE_ERROR_BAD_REQUEST && default_code != SLUICE_ERROR_BAD_REQUEST)
    code = default_code;

  /* The base class cuts and scrubs it. */
  if (message != NULL)
    *out_message = g_strdup (message);
  /* A 429 without Retry-After waits for the anthropic-ratelimit-*-reset
   * the base class reads. */
  return code;
}

/* ---- answers ------------------------------------------------------------------- */

/* Anthropic counts cached input apart from input_tokens; sluice's prompt
 * tokens are all the input, as OpenAI counts them. A member that is
 * missing (message_delta often carries output_tokens alone) keeps what an
 * earlier event said. */
static void
merge_usage (SluiceResponse *response,
             JsonObject     *usage)
{
  gint64 read, write, input, prompt, output;

  if (usage == NULL)
    return;
  read = sluice_json_get_count (usage, "cache_read_input_tokens",
                              sluice_response_get_cached_tokens (response));
  write = sluice_json_get_count (usage, "cache_creation_input_tokens",
                               sluice_response_get_cache_write_tokens (response));
  read = MAX (read, 0);
  write = MAX (write, 0);
  input = sluice_json_get_count (usage, "input_tokens", -1);
  prompt = input >= 0 ? input + read + write : sluice_response_get_prompt_tokens (response);
  output = sluice_json_get_count (usage, "output_tokens", sluice_response_get_completion_tokens (response));
  sluice_response_set_usage (response, prompt, output, read, 0, FALSE);
  sluice_response_set_cache_write_tokens (response, write);
}

static const char *
finish_reason (SluiceHttpProvider *self,
               const char         *stop_reason)
{
  /* The forced answer tool is the answer, not a request for a tool. */
  if (g_strcmp0 (stop_reason, "tool_use") == 0 && sluice_http_provider_get_output_schema (self) != NULL)
    return "stop";
  return sluice_http_normalize_finish_reason (stop_reason);
}

static void
sluice_anthropic_provider_parse_body (SluiceHttpProvider *self,
                                      SluiceResponse     *response,
                                      JsonNode           *root)
{
  JsonObject *body = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *content = body != NULL ? json_object_get_member (body, "content") : NULL;
  gboolean structured = sluice_http_provider_get_output_schema (self) != NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *answer = NULL;
  JsonArray *blocks;

  /* A proxy can answer 200 with an error object: its type still tells
   * what went wrong. */
  if (g_strcmp0 (sluice_json_get_string (body, "type"), "error") == 0)
    {
      JsonObject *error = get_object (body, "error");
      const char *message = sluice_json_get_string (error, "message");
      g_autofree char *quote = sluice_http_provider_excerpt (self, message != NULL ? message : "no message", -1);

      sluice_http_provider_take_error (response,
                                       code_for_error_type (sluice_json_get_string (error, "type"), message,
                                                            SLUICE_ERROR_SERVER),
                                       g_strdup_printf ("an error inside a 2xx answer: %s", quote));
      return;
    }
  if (content == NULL || !JSON_NODE_HOLDS_ARRAY (content))
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED,
                                       g_strdup ("a message without a content array"));
      return;
    }

  /* Usage, model and id first: even a refused answer was billed. */
  merge_usage (response, get_object (body, "usage"));
  sluice_response_set_model (response, sluice_json_get_string (body, "model"));
  if (sluice_response_get_request_id (response) == NULL)
    sluice_response_set_request_id (response, sluice_json_get_string (body, "id"));

  blocks = json_node_get_array (content);
  for (guint i = 0; i < json_array_get_length (blocks); i++)
    {
      JsonNode *node = json_array_get_element (blocks, i);
      JsonObject *block = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *type = sluice_json_get_string (block, "type");
      const char *name = sluice_json_get_string (block, "name");
      JsonNode *input = block != NULL ? json_object_get_member (block, "input") : NULL;
      g_autofree char *arguments = NULL;

      if (g_strcmp0 (type, "text") == 0 && sluice_json_get_string (block, "text") != NULL)
        g_string_append (text, sluice_json_get_string (block, "text"));
      else if (g_strcmp0 (type, "tool_use") == 0 && name != NULL && input != NULL)
        {
          arguments = sluice_json_to_string (input);
          /* The forced answer tool's input is the answer (the text), and
           * stays a tool call, so that parse records where it came from. */
          if (structured && g_str_equal (name, ANSWER_TOOL))
            {
              if (answer == NULL)
                {
                  answer = g_strdup (arguments);
                  sluice_response_add_tool_call (response, sluice_json_get_string (block, "id"), name, arguments);
                }
            }
          else
            sluice_response_add_tool_call (response, sluice_json_get_string (block, "id"), name, arguments);
        }
      /* thinking, redacted_thinking and server tool blocks are not the answer */
    }

  /* No text at all stays NULL: the base class then takes the first tool
   * call's arguments as the text. A refusal becomes content_filter, which
   * the base class turns into that error. */
  if (answer != NULL)
    sluice_response_set_text (response, answer);
  else if (text->len > 0)
    sluice_response_set_text (response, text->str);
  sluice_response_set_finish_reason (response,
                                     finish_reason (self, sluice_json_get_string (body, "stop_reason")));
}

/* ---- streamed answers ------------------------------------------------------------ */

static gboolean
stream_error (SluiceHttpProvider *self,
              SluiceHttpStream   *stream,
              JsonObject         *event)
{
  JsonObject *error = get_object (event, "error");
  const char *message = sluice_json_get_string (error, "message");
  SluiceErrorCode code = code_for_error_type (sluice_json_get_string (error, "type"), message,
                                              SLUICE_ERROR_SERVER);
  g_autofree char *quote = sluice_http_provider_excerpt (self, message != NULL ? message : "no message", -1);
  g_autofree char *kind = sluice_http_provider_excerpt (self, sluice_json_get_string (error, "type"), -1);

  sluice_http_stream_fail (stream, code, g_strdup_printf ("an error event (%s): %s", kind, quote));
  return FALSE;
}

static gboolean
sluice_anthropic_provider_stream_event (SluiceHttpProvider *self,
                                        SluiceHttpStream   *stream,
                                        const char         *event,
                                        const char         *data,
                                        gsize               data_len)
{
  SluiceResponse *response = sluice_http_stream_get_response (stream);
  gboolean structured = sluice_http_provider_get_output_schema (self) != NULL;
  g_autoptr(JsonNode) root = sluice_json_from_string (data, (gssize) data_len, NULL);
  JsonObject *object, *part;
  const char *type, *part_type;
  guint index;
  gint64 raw_index;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *quote = sluice_http_provider_excerpt (self, data, (gssize) data_len);

      sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                               g_strdup_printf ("an event whose data is not a JSON object: \"%s\"", quote));
      return FALSE;
    }
  object = json_node_get_object (root);
  type = sluice_json_get_string (object, "type") ?: event;
  raw_index = sluice_json_get_int (object, "index", 0);
  /* Out of any sane range: no block of this answer, and never block 0. */
  if (raw_index < 0 || raw_index > G_MAXUINT)
    {
      sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                               g_strdup_printf ("an event for content block %" G_GINT64_FORMAT, raw_index));
      return FALSE;
    }
  index = (guint) raw_index;

  if (g_str_equal (type, "message_start"))
    {
      JsonObject *message = get_object (object, "message");

      merge_usage (response, get_object (message, "usage"));
      sluice_response_set_model (response, sluice_json_get_string (message, "model"));
      if (sluice_response_get_request_id (response) == NULL)
        sluice_response_set_request_id (response, sluice_json_get_string (message, "id"));
    }
  else if (g_str_equal (type, "content_block_start"))
    {
      part = get_object (object, "content_block");
      if (g_strcmp0 (sluice_json_get_string (part, "type"), "tool_use") == 0 &&
          (!structured || g_strcmp0 (sluice_json_get_string (part, "name"), ANSWER_TOOL) == 0))
        sluice_http_stream_add_tool_call (stream, index, sluice_json_get_string (part, "id"),
                                          sluice_json_get_string (part, "name"), NULL);
    }
  else if (g_str_equal (type, "content_block_delta"))
    {
      part = get_object (object, "delta");
      part_type = sluice_json_get_string (part, "type");
      if (g_strcmp0 (part_type, "text_delta") == 0 && !structured)
        sluice_http_stream_add_text (stream, sluice_json_get_string (part, "text"));
      else if (g_strcmp0 (part_type, "input_json_delta") == 0 && structured)
        {
          /* The answer, and the answer tool's call (see parse_body). */
          sluice_http_stream_add_text (stream, sluice_json_get_string (part, "partial_json"));
          sluice_http_stream_add_tool_call (stream, index, NULL, NULL, sluice_json_get_string (part, "partial_json"));
        }
      else if (g_strcmp0 (part_type, "input_json_delta") == 0)
        sluice_http_stream_add_tool_call (stream, index, NULL, NULL,
                                          sluice_json_get_string (part, "partial_json"));
      /* thinking_delta and signature_delta are not the answer */
    }
  else if (g_str_equal (type, "message_delta"))
    {
      const char *stop_reason = sluice_json_get_string (get_object (object, "delta"), "stop_reason");

      merge_usage (response, get_object (object, "usage"));
      if (stop_reason != NULL)
        sluice_http_stream_set_finish_reason (stream, finish_reason (self, stop_reason));
    }
  else if (g_str_equal (type, "message_stop"))
    {
      g_autoptr(JsonNode) input = NULL;

      /* The forced tool's input is the answer: unless cut by max_tokens
       * (a length finish), it must be whole JSON, or the server broke it. */
      if (structured && sluice_http_stream_get_n_events (stream) > 0 &&
          (input = sluice_json_from_string (sluice_http_stream_get_text (stream), -1, NULL)) == NULL &&
          g_strcmp0 (sluice_http_stream_get_finish_reason (stream), "length") != 0)
        {
          sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                                   g_strdup ("the forced tool's input ended before its JSON did"));
          return FALSE;
        }
      sluice_http_stream_set_ended (stream);
    }
  else if (g_str_equal (type, "error"))
    return stream_error (self, stream, object);
  /* ping, content_block_stop and event types added later are ignored */
  return TRUE;
}

/* ---- the type ---------------------------------------------------------------------- */

static void
sluice_anthropic_provider_finalize (GObject *object)
{
  SluiceAnthropicProvider *self = SLUICE_ANTHROPIC_PROVIDER (object);

  g_clear_pointer (&self->version, g_free);
  g_clear_pointer (&self->parameters, json_object_unref);

  G_OBJECT_CLASS (sluice_anthropic_provider_parent_class)->finalize (object);
}

static void
sluice_anthropic_provider_class_init (SluiceAnthropicProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  SluiceHttpProviderClass *http_class = SLUICE_HTTP_PROVIDER_CLASS (klass);

  object_class->finalize = sluice_anthropic_provider_finalize;

  http_class->default_base_url = "https://api.anthropic.com/v1";
  http_class->api_key_required = TRUE;
  http_class->api_key_example = "${ANTHROPIC_API_KEY}";
  http_class->request_id_header = "request-id";
  http_class->configure = sluice_anthropic_provider_configure;
  http_class->build_message = sluice_anthropic_provider_build_message;
  http_class->parse_body = sluice_anthropic_provider_parse_body;
  http_class->classify_error = sluice_anthropic_provider_classify_error;
  http_class->stream_event = sluice_anthropic_provider_stream_event;
}

static void
sluice_anthropic_provider_init (SluiceAnthropicProvider *self)
{
}
