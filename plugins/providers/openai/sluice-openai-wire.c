/* sluice-openai-wire.c — the OpenAI chat-completions wire format.
 *
 * Works with api.openai.com and with the servers that copy it (Ollama,
 * vLLM, llama.cpp's server, LM Studio), whose error bodies and usage
 * reports differ: both shapes are read here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-openai-wire.h"

#include <string.h>

void
sluice_openai_options_clear (SluiceOpenaiOptions *options)
{
  g_clear_pointer (&options->organization, g_free);
  g_clear_pointer (&options->parameters, json_object_unref);
}

/* ---- configuration ----------------------------------------------------------- */

static gboolean
node_is_number (JsonNode *node)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static gboolean
node_is_integer (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
read_string (JsonObject  *target,
             const char  *member,
             char       **out,
             GError     **error)
{
  JsonNode *node = json_object_get_member (target, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!node_is_string (node))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be a string", member);
      return FALSE;
    }
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
check_number (JsonNode    *node,
              const char  *member,
              gdouble      min,
              gdouble      max,
              GError     **error)
{
  if (!node_is_number (node) || json_node_get_double (node) < min || json_node_get_double (node) > max)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be a number from %g to %g", member, min, max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_stop (JsonNode  *node,
            GError   **error)
{
  if (node_is_string (node) && *json_node_get_string (node) != '\0')
    return TRUE;
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);
      gboolean ok = n >= 1 && n <= 4;

      for (guint i = 0; ok && i < n; i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          ok = node_is_string (element) && *json_node_get_string (element) != '\0';
        }
      if (ok)
        return TRUE;
    }
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "'stop' must be a string or an array of 1 to 4 strings");
  return FALSE;
}

/* Request parameters passed through to the body, checked on the way. */
static gboolean
read_parameters (SluiceOpenaiOptions   *options,
                 JsonObject            *target,
                 GError               **error)
{
  static const char * const names[] = { "temperature", "top_p", "max_tokens", "seed", "stop" };

  options->parameters = json_object_new ();
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *name = names[i];
      JsonNode *node = json_object_get_member (target, name);
      gboolean ok;

      if (node == NULL || JSON_NODE_HOLDS_NULL (node))
        continue;
      if (g_str_equal (name, "temperature"))
        ok = check_number (node, name, 0, 2, error);
      else if (g_str_equal (name, "top_p"))
        ok = check_number (node, name, 0, 1, error);
      else if (g_str_equal (name, "max_tokens"))
        {
          ok = node_is_integer (node) && json_node_get_int (node) >= 1;
          if (!ok)
            g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                                 "'max_tokens' must be a positive integer");
        }
      else if (g_str_equal (name, "seed"))
        {
          ok = node_is_integer (node);
          if (!ok)
            g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                                 "'seed' must be an integer");
        }
      else
        ok = check_stop (node, error);

      if (!ok)
        return FALSE;
      json_object_set_member (options->parameters, name, json_node_copy (node));
    }
  return TRUE;
}

gboolean
sluice_openai_configure (SluiceOpenaiOptions  *options,
                         JsonObject           *target,
                         GError              **error)
{
  static const char * const passed_through[] = { "tools", "tool_choice" };

  sluice_openai_options_clear (options);
  if (!read_string (target, "organization", &options->organization, error) ||
      !read_parameters (options, target, error))
    return FALSE;
  /* Tools are checked by the schema; their shape is the provider's. */
  for (guint i = 0; i < G_N_ELEMENTS (passed_through); i++)
    {
      JsonNode *node = json_object_get_member (target, passed_through[i]);

      if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
        json_object_set_member (options->parameters, passed_through[i], json_node_copy (node));
    }
  return TRUE;
}

/* ---- errors ------------------------------------------------------------------------ */

/* The error's fields, whichever shape the server uses: OpenAI's
 * {"error": {"message", "type", "code"}}, Ollama's {"error": "text"},
 * vLLM's {"object": "error", "message", "type", "code"}. */
static void
read_error_fields (JsonNode    *root,
                   const char **out_message,
                   const char **out_type,
                   const char **out_code)
{
  JsonObject *body = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *error = body != NULL ? json_object_get_member (body, "error") : NULL;
  JsonObject *fields = NULL;

  *out_message = *out_type = *out_code = NULL;
  if (error != NULL && JSON_NODE_HOLDS_OBJECT (error))
    fields = json_node_get_object (error);
  else if (error != NULL && node_is_string (error))
    *out_message = json_node_get_string (error);
  else if (g_strcmp0 (sluice_json_get_string (body, "object"), "error") == 0)
    fields = body;

  if (fields != NULL)
    {
      *out_message = sluice_json_get_string (fields, "message");
      *out_type = sluice_json_get_string (fields, "type");
      *out_code = sluice_json_get_string (fields, "code");
    }
}

static gboolean
mentions (const char *text,
          const char *what)
{
  return text != NULL && strstr (text, what) != NULL;
}

static SluiceErrorCode
classify_fields (guint            status,
                 const char      *message,
                 const char      *type,
                 const char      *code,
                 SluiceErrorCode  default_code)
{
  g_autofree char *lower = message != NULL ? g_ascii_strdown (message, -1) : NULL;

  /* Out of credit is not a rate limit: waiting does not help. */
  if (g_strcmp0 (code, "insufficient_quota") == 0 || g_strcmp0 (type, "insufficient_quota") == 0)
    return SLUICE_ERROR_BUDGET_EXCEEDED;
  if (status == 429 || status >= 500)
    return default_code;
  /* Inside a stream (status 200) only the body tells. */
  if (g_strcmp0 (code, "rate_limit_exceeded") == 0 || g_strcmp0 (type, "rate_limit_exceeded") == 0)
    return SLUICE_ERROR_RATE_LIMITED;
  /* OpenAI sets the code; compatible servers often only say it in words. */
  if (g_strcmp0 (code, "context_length_exceeded") == 0 ||
      mentions (lower, "maximum context length") || mentions (lower, "context length") ||
      mentions (lower, "context window") || mentions (lower, "exceeds the available context size"))
    return SLUICE_ERROR_CONTEXT_OVERFLOW;
  if (g_strcmp0 (code, "content_filter") == 0 || g_strcmp0 (code, "content_policy_violation") == 0)
    return SLUICE_ERROR_CONTENT_FILTER;
  return default_code;
}

SluiceErrorCode
sluice_openai_classify_error (SluiceHttpProvider  *provider,
                              guint                status,
                              SoupMessageHeaders  *headers,
                              JsonNode            *root,
                              SluiceErrorCode      default_code,
                              char               **out_message,
                              gint64              *inout_retry_after_ms)
{
  const char *message, *type, *code;

  read_error_fields (root, &message, &type, &code);
  *out_message = g_strdup (message);
  /* A 429 without Retry-After waits for the x-ratelimit-reset-* the base
   * class reads. */
  return classify_fields (status, message, type, code, default_code);
}

/* ---- answers ------------------------------------------------------------------------- */

/* content is a string, or (some compatible servers) an array of parts. */
static char *
get_content (JsonObject *message)
{
  JsonNode *content = json_object_get_member (message, "content");
  GString *text;
  JsonArray *parts;

  if (content == NULL || JSON_NODE_HOLDS_NULL (content))
    return NULL;
  if (node_is_string (content))
    return g_strdup (json_node_get_string (content));
  if (!JSON_NODE_HOLDS_ARRAY (content))
    return NULL;

  text = g_string_new (NULL);
  parts = json_node_get_array (content);
  for (guint i = 0; i < json_array_get_length (parts); i++)
    {
      JsonNode *part = json_array_get_element (parts, i);
      const char *part_text = JSON_NODE_HOLDS_OBJECT (part)
        ? sluice_json_get_string (json_node_get_object (part), "text") : NULL;

      if (part_text != NULL)
        g_string_append (text, part_text);
    }
  return g_string_free (text, FALSE);
}

static void
fill_usage (SluiceResponse *response,
            JsonObject     *body)
{
  JsonNode *node = json_object_get_member (body, "usage");
  JsonObject *usage, *details;
  JsonNode *details_node;
  gint64 cached = 0, reasoning = 0;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      sluice_response_set_usage (response, -1, -1, 0, 0, FALSE);
      return;
    }
  usage = json_node_get_object (node);

  details_node = json_object_get_member (usage, "prompt_tokens_details");
  details = details_node != NULL && JSON_NODE_HOLDS_OBJECT (details_node)
    ? json_node_get_object (details_node) : NULL;
  cached = sluice_json_get_count (details, "cached_tokens", 0);

  details_node = json_object_get_member (usage, "completion_tokens_details");
  details = details_node != NULL && JSON_NODE_HOLDS_OBJECT (details_node)
    ? json_node_get_object (details_node) : NULL;
  reasoning = sluice_json_get_count (details, "reasoning_tokens", 0);

  sluice_response_set_usage (response,
                             sluice_json_get_count (usage, "prompt_tokens", -1),
                             sluice_json_get_count (usage, "completion_tokens", -1),
                             cached, reasoning, FALSE);
}

/* A 2xx with an error object inside: some compatible servers do that. */
static gboolean
take_error_object (SluiceHttpProvider *provider,
                   SluiceResponse     *response,
                   JsonNode           *root)
{
  const char *message, *type, *code;

  g_autofree char *quote = NULL;

  read_error_fields (root, &message, &type, &code);
  if (message == NULL)
    return FALSE;
  quote = sluice_http_provider_excerpt (provider, message, -1);
  sluice_http_provider_take_error (response,
                                   classify_fields (200, message, type, code, SLUICE_ERROR_SERVER),
                                   g_strdup_printf ("an error inside a 2xx answer: %s", quote));
  return TRUE;
}

/* The arguments as JSON text: OpenAI sends a string, some compatible
 * servers the object itself. */
static char *
arguments_text (JsonObject *function)
{
  JsonNode *node = function != NULL ? json_object_get_member (function, "arguments") : NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (node_is_string (node))
    return g_strdup (json_node_get_string (node));
  return sluice_json_to_string (node);
}

static void
add_tool_calls (SluiceResponse *response,
                JsonObject     *message)
{
  JsonNode *calls = json_object_get_member (message, "tool_calls");

  if (calls == NULL || !JSON_NODE_HOLDS_ARRAY (calls))
    return;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (calls)); i++)
    {
      JsonNode *node = json_array_get_element (json_node_get_array (calls), i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *function = call != NULL ? json_object_get_member (call, "function") : NULL;
      JsonObject *fn = function != NULL && JSON_NODE_HOLDS_OBJECT (function) ? json_node_get_object (function) : NULL;

      g_autofree char *arguments = arguments_text (fn);

      if (sluice_json_get_string (fn, "name") != NULL)
        sluice_response_add_tool_call (response, sluice_json_get_string (call, "id"),
                                       sluice_json_get_string (fn, "name"), arguments);
    }
}

void
sluice_openai_parse_body (SluiceHttpProvider *provider,
                          SluiceResponse     *response,
                          JsonNode           *root)
{
  JsonObject *body, *choice, *message;
  JsonNode *choices, *node;
  g_autofree char *content = NULL;
  const char *refusal;

  if (take_error_object (provider, response, root))
    return;

  body = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  choices = body != NULL ? json_object_get_member (body, "choices") : NULL;
  if (choices == NULL || !JSON_NODE_HOLDS_ARRAY (choices))
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED,
                                       g_strdup ("an answer without a choices array"));
      return;
    }

  /* Usage, model and id first: even a refused answer was billed. */
  fill_usage (response, body);
  sluice_response_set_model (response, sluice_json_get_string (body, "model"));
  if (sluice_response_get_request_id (response) == NULL)
    sluice_response_set_request_id (response, sluice_json_get_string (body, "id"));

  if (json_array_get_length (json_node_get_array (choices)) == 0)
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED, g_strdup ("an answer with no choices"));
      return;
    }
  node = json_array_get_element (json_node_get_array (choices), 0);
  choice = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  node = choice != NULL ? json_object_get_member (choice, "message") : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED,
                                       g_strdup ("an answer without choices[0].message"));
      return;
    }
  message = json_node_get_object (node);
  content = get_content (message);
  refusal = sluice_json_get_string (message, "refusal");
  add_tool_calls (response, message);
  sluice_response_set_finish_reason (response,
                                     sluice_http_normalize_finish_reason (sluice_json_get_string (choice,
                                                                                                  "finish_reason")));

  if ((content == NULL || *content == '\0') && refusal != NULL && *refusal != '\0')
    {
      g_autofree char *quote = sluice_http_provider_excerpt (provider, refusal, -1);

      /* The model declined on content grounds: the same outcome as the filter. */
      sluice_response_set_finish_reason (response, "content_filter");
      sluice_http_provider_take_error (response, SLUICE_ERROR_CONTENT_FILTER,
                                       g_strdup_printf ("the model refused: %s", quote));
      return;
    }
  if (content != NULL && (*content != '\0' || sluice_response_get_tool_calls (response) == NULL))
    sluice_response_set_text (response, content);
}

/* ---- requests ------------------------------------------------------------------------- */

/* Native structured output: the answer must follow the pipeline's output
 * schema. strict mode accepts a subset of JSON Schema; a schema outside it
 * is refused by OpenAI with a 400 that names the keyword. */
static void
add_response_format (JsonObject *body,
                     JsonObject *schema)
{
  JsonObject *format = json_object_new ();
  JsonObject *json_schema = json_object_new ();

  json_object_set_string_member (json_schema, "name", "answer");
  json_object_set_boolean_member (json_schema, "strict", TRUE);
  json_object_set_object_member (json_schema, "schema", json_object_ref (schema));
  json_object_set_string_member (format, "type", "json_schema");
  json_object_set_object_member (format, "json_schema", json_schema);
  json_object_set_object_member (body, "response_format", format);
}

SoupMessage *
sluice_openai_build_message (SluiceHttpProvider   *provider,
                             SluiceOpenaiOptions  *options,
                             SluiceContext        *context,
                             gboolean              stream,
                             GError              **error)
{
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *body = json_object_new ();
  JsonObject *schema = sluice_http_provider_get_output_schema (provider);
  const char *key = sluice_http_provider_get_api_key (provider);
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;
  SoupMessage *msg;

  json_node_take_object (root, body);
  json_object_set_string_member (body, "model", sluice_http_provider_get_model (provider));
  json_object_set_array_member (body, "messages", json_array_ref (sluice_context_get_messages (context)));
  json_object_iter_init (&iter, options->parameters);
  while (json_object_iter_next (&iter, &name, &value))
    json_object_set_member (body, name, json_node_copy (value));
  if (schema != NULL)
    add_response_format (body, schema);
  if (stream)
    {
      JsonObject *stream_options = json_object_new ();

      json_object_set_boolean_member (body, "stream", TRUE);
      json_object_set_boolean_member (stream_options, "include_usage", TRUE);
      json_object_set_object_member (body, "stream_options", stream_options);
    }

  msg = sluice_http_provider_new_message (provider, "/chat/completions", root);
  if (msg == NULL)
    return NULL;
  if (key != NULL)
    {
      char *authorization = g_strconcat ("Bearer ", key, NULL);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", authorization);
      explicit_bzero (authorization, strlen (authorization));
      g_free (authorization);
    }
  if (options->organization != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "OpenAI-Organization",
                                  options->organization);
  return msg;
}

/* ---- streams ---------------------------------------------------------------------------- */

/* The refusal so far, kept on the response: the one object of a stream
 * that the wire format can keep state on. */
#define REFUSAL_KEY "sluice-openai-refusal"
/* More than an excerpt quotes. */
#define MAX_REFUSAL_BYTES 4096

static void
free_refusal (gpointer refusal)
{
  g_string_free (refusal, TRUE);
}

/* A refusal comes in fragments, as text does. The answer fails with it,
 * but the stream is read on to its end for the usage: a refused answer is
 * billed too. */
static void
add_refusal (SluiceHttpProvider *provider,
             SluiceHttpStream   *stream,
             const char         *fragment)
{
  SluiceResponse *response = sluice_http_stream_get_response (stream);
  GString *refusal = g_object_get_data (G_OBJECT (response), REFUSAL_KEY);
  g_autofree char *quote = NULL;

  if (refusal == NULL)
    {
      refusal = g_string_new (NULL);
      g_object_set_data_full (G_OBJECT (response), REFUSAL_KEY, refusal, free_refusal);
    }
  if (refusal->len >= MAX_REFUSAL_BYTES)
    return;
  g_string_append (refusal, fragment);
  quote = sluice_http_provider_excerpt (provider, refusal->str, (gssize) refusal->len);
  /* The outcome, and the message, of a refusal in a whole answer. */
  sluice_http_provider_take_error (response, SLUICE_ERROR_CONTENT_FILTER,
                                   g_strdup_printf ("the model refused: %s", quote));
  sluice_http_stream_set_finish_reason (stream, "content_filter");
}

static void
read_delta (SluiceHttpProvider *provider,
            SluiceHttpStream   *stream,
            JsonObject         *delta)
{
  JsonNode *calls = json_object_get_member (delta, "tool_calls");
  const char *refusal = sluice_json_get_string (delta, "refusal");

  sluice_http_stream_add_text (stream, sluice_json_get_string (delta, "content"));
  if (refusal != NULL && *refusal != '\0')
    add_refusal (provider, stream, refusal);

  for (guint i = 0; calls != NULL && JSON_NODE_HOLDS_ARRAY (calls) &&
                    i < json_array_get_length (json_node_get_array (calls)); i++)
    {
      JsonNode *node = json_array_get_element (json_node_get_array (calls), i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *function = call != NULL ? json_object_get_member (call, "function") : NULL;
      JsonObject *fn = function != NULL && JSON_NODE_HOLDS_OBJECT (function) ? json_node_get_object (function) : NULL;
      gint64 index = sluice_json_get_int (call, "index", i);

      g_autofree char *arguments = arguments_text (fn);

      if (call != NULL && index >= 0 && index < G_MAXUINT)
        sluice_http_stream_add_tool_call (stream, (guint) index, sluice_json_get_string (call, "id"),
                                          sluice_json_get_string (fn, "name"), arguments);
    }
}

gboolean
sluice_openai_stream_event (SluiceHttpProvider  *provider,
                            SluiceOpenaiOptions *options,
                            SluiceHttpStream    *stream,
                            const char          *data,
                            gsize                data_len)
{
  SluiceResponse *response = sluice_http_stream_get_response (stream);
  g_autoptr(JsonNode) root = NULL;
  JsonObject *chunk;
  JsonNode *choices;
  const char *message, *type, *code;

  if (g_str_equal (data, "[DONE]"))
    {
      sluice_http_stream_set_ended (stream);
      return TRUE;
    }

  root = sluice_json_from_string (data, (gssize) data_len, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *quote = sluice_http_provider_excerpt (provider, data, (gssize) data_len);

      sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                               g_strdup_printf ("a chunk that is not a JSON object: \"%s\"", quote));
      return FALSE;
    }

  read_error_fields (root, &message, &type, &code);
  if (message != NULL)
    {
      sluice_http_stream_fail (stream, classify_fields (200, message, type, code, SLUICE_ERROR_SERVER),
                               sluice_http_provider_excerpt (provider, message, -1));
      return FALSE;
    }

  chunk = json_node_get_object (root);
  if (sluice_response_get_model (response) == NULL)
    sluice_response_set_model (response, sluice_json_get_string (chunk, "model"));
  if (sluice_response_get_request_id (response) == NULL)
    sluice_response_set_request_id (response, sluice_json_get_string (chunk, "id"));
  if (json_object_has_member (chunk, "usage") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (chunk, "usage")))
    fill_usage (response, chunk);

  /* Only the first choice is the answer (n > 1 interleaves choices). */
  choices = json_object_get_member (chunk, "choices");
  for (guint i = 0; choices != NULL && JSON_NODE_HOLDS_ARRAY (choices) &&
                    i < json_array_get_length (json_node_get_array (choices)); i++)
    {
      JsonNode *node = json_array_get_element (json_node_get_array (choices), i);
      JsonObject *choice = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *delta = choice != NULL ? json_object_get_member (choice, "delta") : NULL;
      const char *reason = sluice_json_get_string (choice, "finish_reason");

      if (choice == NULL || sluice_json_get_int (choice, "index", 0) != 0)
        continue;
      if (delta != NULL && JSON_NODE_HOLDS_OBJECT (delta))
        read_delta (provider, stream, json_node_get_object (delta));
      if (reason != NULL)
        {
          /* A refused answer finishes with "stop": the refusal is the outcome. */
          if (g_object_get_data (G_OBJECT (response), REFUSAL_KEY) == NULL)
            sluice_http_stream_set_finish_reason (stream, sluice_http_normalize_finish_reason (reason));
          if (options->lenient)
            sluice_http_stream_set_complete (stream);
        }
    }
  return TRUE;
}
