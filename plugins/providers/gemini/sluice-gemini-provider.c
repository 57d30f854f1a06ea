/* sluice-gemini-provider.c — the Google Gemini API wire protocol
 * (generateContent, and streamGenerateContent?alt=sse when streaming).
 *
 * A subclass of SluiceHttpProvider: the base class does the exchange, the
 * stream framing, timeouts, truncation and the key's secrecy; this file
 * knows Gemini's request body, its answer, its error object and its
 * stream chunks. The key goes in the x-goog-api-key header, never in the
 * URL: URLs get logged.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-gemini-provider.h"

#include <string.h>

struct _SluiceGeminiProvider
{
  SluiceHttpProvider  parent_instance;

  JsonObject         *generation_config; /* from the target, copied into every request */
  JsonObject         *passthrough;       /* safetySettings, tools, toolConfig as given */
};

G_DEFINE_FINAL_TYPE (SluiceGeminiProvider, sluice_gemini_provider, SLUICE_TYPE_HTTP_PROVIDER)

/* How many function calls a streamed answer carried so far, kept on its
 * response: one provider serves many streams at once. */

/* ---- reading untrusted JSON ----------------------------------------------------- */

static gboolean
holds (JsonNode *node,
       GType     type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* The node at a dotted path ("candidates.0.content"), if it has @type. */
static JsonNode *
lookup (JsonNode     *root,
        const char   *path,
        JsonNodeType  type)
{
  JsonNode *node = sluice_json_lookup_path (root, path);

  return node != NULL && JSON_NODE_TYPE (node) == type ? node : NULL;
}

static const char *
lookup_string (JsonNode   *root,
               const char *path)
{
  JsonNode *node = sluice_json_lookup_path (root, path);

  return holds (node, G_TYPE_STRING) ? json_node_get_string (node) : NULL;
}

static gboolean
lookup_true (JsonNode   *root,
             const char *path)
{
  JsonNode *node = sluice_json_lookup_path (root, path);

  return holds (node, G_TYPE_BOOLEAN) && json_node_get_boolean (node);
}

static guint
array_length (JsonNode *array)
{
  return array != NULL ? json_array_get_length (json_node_get_array (array)) : 0;
}

static JsonNode *
array_element (JsonNode *array,
               guint     index)
{
  return json_array_get_element (json_node_get_array (array), index);
}

static gboolean
says (const char *text,
      const char *words)
{
  g_autofree char *lower = g_ascii_strdown (text != NULL ? text : "", -1);

  return strstr (lower, words) != NULL;
}

/* ---- configuration ------------------------------------------------------------------ */

static gboolean
read_stop (JsonNode   *node,
           JsonObject *config)
{
  JsonArray *sequences = json_array_new ();
  JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  guint n = array != NULL ? json_array_get_length (array) : 1;
  gboolean ok = n >= 1 && n <= 5;

  for (guint i = 0; ok && i < n; i++)
    {
      JsonNode *element = array != NULL ? json_array_get_element (array, i) : node;

      ok = holds (element, G_TYPE_STRING) && *json_node_get_string (element) != '\0';
      if (ok)
        json_array_add_string_element (sequences, json_node_get_string (element));
    }
  json_object_set_array_member (config, "stopSequences", sequences);
  return ok;
}

/* The target's parameters under their wire names, checked on the way. */
static gboolean
read_parameters (SluiceGeminiProvider  *self,
                 JsonObject            *target,
                 GError               **error)
{
  static const struct { const char *member, *field; JsonNodeType type; gdouble max; const char *must; } params[] = {
    { "temperature", "temperature", JSON_NODE_VALUE, 2, "a number from 0 to 2" },
    { "top_p", "topP", JSON_NODE_VALUE, 1, "a number from 0 to 1" },
    { "top_k", "topK", JSON_NODE_VALUE, -1, "a positive integer" },
    { "max_tokens", "maxOutputTokens", JSON_NODE_VALUE, -1, "a positive integer" },
    { "stop", "stopSequences", JSON_NODE_VALUE, 0, "a string or an array of 1 to 5 strings" },
    /* Gemini-native members, passed through: only their outer type is checked. */
    { "safety_settings", "safetySettings", JSON_NODE_ARRAY, 0, "an array" },
    { "tools", "tools", JSON_NODE_ARRAY, 0, "an array" },
    { "tool_config", "toolConfig", JSON_NODE_OBJECT, 0, "an object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    {
      JsonNode *node = json_object_get_member (target, params[i].member);
      JsonObject *config = self->generation_config;
      gboolean ok;

      if (node == NULL || JSON_NODE_HOLDS_NULL (node))
        continue;
      if (params[i].type != JSON_NODE_VALUE)
        {
          ok = JSON_NODE_TYPE (node) == params[i].type;
          if (ok)
            json_object_set_member (self->passthrough, params[i].field, json_node_copy (node));
        }
      else if (g_str_equal (params[i].member, "stop"))
        ok = read_stop (node, config);
      else if (params[i].max < 0)
        {
          ok = holds (node, G_TYPE_INT64) && json_node_get_int (node) >= 1 &&
               json_node_get_int (node) <= G_MAXINT32;
          if (ok)
            json_object_set_int_member (config, params[i].field, json_node_get_int (node));
        }
      else
        {
          ok = (holds (node, G_TYPE_INT64) || holds (node, G_TYPE_DOUBLE)) &&
               json_node_get_double (node) >= 0 && json_node_get_double (node) <= params[i].max;
          if (ok)
            json_object_set_double_member (config, params[i].field, json_node_get_double (node));
        }
      if (!ok)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "'%s' must be %s",
                       params[i].member, params[i].must);
          return FALSE;
        }
    }
  return TRUE;
}

static void
clear_configuration (SluiceGeminiProvider *self)
{
  g_clear_pointer (&self->generation_config, json_object_unref);
  g_clear_pointer (&self->passthrough, json_object_unref);
}

static gboolean
sluice_gemini_provider_configure (SluiceHttpProvider  *provider,
                                  JsonObject          *target,
                                  GError             **error)
{
  SluiceGeminiProvider *self = SLUICE_GEMINI_PROVIDER (provider);

  clear_configuration (self);
  self->generation_config = json_object_new ();
  self->passthrough = json_object_new ();
  if (read_parameters (self, target, error))
    return TRUE;
  clear_configuration (self);
  return FALSE;
}

/* ---- the request ------------------------------------------------------------------------ */

static void
add_text_part (JsonArray  *parts,
               const char *text)
{
  JsonObject *part = json_object_new ();

  json_object_set_string_member (part, "text", text);
  json_array_add_object_element (parts, part);
}

/* contents[] and systemInstruction from the chat messages: assistant
 * becomes "model", and consecutive messages of one role become one
 * content with several parts (Gemini wants the roles to alternate). */
static gboolean
add_messages (JsonObject  *body,
              JsonArray   *messages,
              GError     **error)
{
  g_autoptr(JsonArray) contents = json_array_new ();
  g_autoptr(JsonArray) system_parts = json_array_new ();
  JsonArray *turn_parts = NULL;
  const char *last_role = NULL;

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonNode *message = json_array_get_element (messages, i);
      const char *role = lookup_string (message, "role");
      const char *text = lookup_string (message, "content");
      const char *wire_role;

      if (text == NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST, "message %u has no text content", i);
          return FALSE;
        }
      if (g_strcmp0 (role, "system") == 0)
        {
          add_text_part (system_parts, text);
          continue;
        }
      if (g_strcmp0 (role, "user") != 0 && g_strcmp0 (role, "assistant") != 0)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                       "message %u has role '%s', which the gemini provider cannot send",
                       i, role != NULL ? role : "(none)");
          return FALSE;
        }
      wire_role = g_str_equal (role, "user") ? "user" : "model";
      if (g_strcmp0 (last_role, wire_role) != 0)
        {
          JsonObject *turn = json_object_new ();

          turn_parts = json_array_new ();
          json_object_set_string_member (turn, "role", wire_role);
          json_object_set_array_member (turn, "parts", turn_parts);
          json_array_add_object_element (contents, turn);
          last_role = wire_role;
        }
      add_text_part (turn_parts, text);
    }

  if (json_array_get_length (contents) == 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                           "no user message to send: gemini needs one besides the system prompt");
      return FALSE;
    }
  json_object_set_array_member (body, "contents", json_array_ref (contents));
  if (json_array_get_length (system_parts) > 0)
    {
      JsonObject *instruction = json_object_new ();

      json_object_set_array_member (instruction, "parts", json_array_ref (system_parts));
      json_object_set_object_member (body, "systemInstruction", instruction);
    }
  return TRUE;
}

static void
copy_members (JsonObject *to,
              JsonObject *from)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&iter, from);
  while (json_object_iter_next (&iter, &name, &value))
    json_object_set_member (to, name, json_node_copy (value));
}

static SoupMessage *
sluice_gemini_provider_build_message (SluiceHttpProvider  *provider,
                                      SluiceContext       *context,
                                      gboolean             stream,
                                      GError             **error)
{
  SluiceGeminiProvider *self = SLUICE_GEMINI_PROVIDER (provider);
  JsonObject *schema = sluice_http_provider_get_output_schema (provider);
  const char *model = sluice_http_provider_get_model (provider);
  const char *key = sluice_http_provider_get_api_key (provider);
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(JsonObject) config = json_object_new ();
  JsonObject *body = json_object_new ();
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  SoupMessage *msg;

  json_node_take_object (root, body);
  if (!add_messages (body, sluice_context_get_messages (context), error))
    return NULL;

  copy_members (config, self->generation_config);
  /* responseJsonSchema takes JSON Schema as it is; the older responseSchema
   * takes only an OpenAPI subset (no $ref, no additionalProperties, ...). */
  if (schema != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), schema);

      json_object_set_string_member (config, "responseMimeType", "application/json");
      json_object_set_member (config, "responseJsonSchema", json_node_copy (node));
    }
  if (json_object_get_size (config) > 0)
    json_object_set_object_member (body, "generationConfig", json_object_ref (config));
  copy_members (body, self->passthrough);

  /* "gemini-2.0-flash" and "models/gemini-2.0-flash" name the same model. */
  if (g_str_has_prefix (model, "models/"))
    model += strlen ("models/");
  escaped = g_uri_escape_string (model, NULL, FALSE);
  path = g_strdup_printf ("/models/%s:%s", escaped, stream ? "streamGenerateContent?alt=sse" : "generateContent");
  msg = sluice_http_provider_new_message (provider, path, root);
  if (msg != NULL && key != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "x-goog-api-key", key);
  return msg;
}

/* ---- errors ------------------------------------------------------------------------------- */

/* {"error": {...}}, or the same wrapped in an array, as some errors come. */
static JsonNode *
get_error (JsonNode *root)
{
  JsonNode *error = lookup (root, "error", JSON_NODE_OBJECT);

  return error != NULL ? error : lookup (root, "0.error", JSON_NODE_OBJECT);
}

/* The details[] entry of a google.rpc type, e.g. "RetryInfo". */
static JsonNode *
get_detail (JsonNode   *error,
            const char *type)
{
  JsonNode *details = lookup (error, "details", JSON_NODE_ARRAY);
  g_autofree char *suffix = g_strconcat ("/google.rpc.", type, NULL);

  for (guint i = 0; i < array_length (details); i++)
    if (g_str_has_suffix (lookup_string (array_element (details, i), "@type") ?: "", suffix))
      return array_element (details, i);
  return NULL;
}

static SluiceErrorCode
classify_error_object (JsonNode        *error,
                       SluiceErrorCode  default_code)
{
  static const struct { const char *status; SluiceErrorCode code; } statuses[] = {
    { "UNAVAILABLE", SLUICE_ERROR_OVERLOADED }, { "INTERNAL", SLUICE_ERROR_SERVER },
    { "DEADLINE_EXCEEDED", SLUICE_ERROR_TIMEOUT }, { "UNAUTHENTICATED", SLUICE_ERROR_AUTH },
    { "PERMISSION_DENIED", SLUICE_ERROR_AUTH }, { "NOT_FOUND", SLUICE_ERROR_NOT_FOUND },
    { "INVALID_ARGUMENT", SLUICE_ERROR_BAD_REQUEST }, { "FAILED_PRECONDITION", SLUICE_ERROR_BAD_REQUEST },
    { "RESOURCE_EXHAUSTED", SLUICE_ERROR_RATE_LIMITED },
  };
  const char *status = lookup_string (error, "status");
  const char *message = lookup_string (error, "message");
  SluiceErrorCode code = default_code;

  for (guint i = 0; status != NULL && i < G_N_ELEMENTS (statuses); i++)
    if (g_str_equal (status, statuses[i].status))
      code = statuses[i].code;

  /* A bad key is a 400 INVALID_ARGUMENT: only the reason tells. */
  if (g_strcmp0 (lookup_string (get_detail (error, "ErrorInfo"), "reason"), "API_KEY_INVALID") == 0)
    return SLUICE_ERROR_AUTH;
  /* "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)." */
  if (code == SLUICE_ERROR_BAD_REQUEST &&
      (says (message, "input token count") || says (message, "exceeds the maximum number of tokens")))
    return SLUICE_ERROR_CONTEXT_OVERFLOW;
  /* Every quota message says "check your plan and billing details", the
   * per-minute ones too, and those carry a RetryInfo: only a billing
   * problem with no delay to wait out (prepaid credit gone) stops. */
  if (code == SLUICE_ERROR_RATE_LIMITED && says (message, "billing") && get_detail (error, "RetryInfo") == NULL)
    return SLUICE_ERROR_BUDGET_EXCEEDED;
  return code;
}

static SluiceErrorCode
sluice_gemini_provider_classify_error (SluiceHttpProvider  *provider,
                                       guint                status,
                                       SoupMessageHeaders  *headers,
                                       JsonNode            *root,
                                       SluiceErrorCode      default_code,
                                       char               **out_message,
                                       gint64              *inout_retry_after_ms)
{
  JsonNode *error = get_error (root);
  const char *delay;
  gint64 delay_ms;

  if (error == NULL)
    return default_code;
  *out_message = g_strdup (lookup_string (error, "message"));
  /* RetryInfo.retryDelay, a protobuf Duration: "30s", "1.5s", "20.04466179s". */
  delay = lookup_string (get_detail (error, "RetryInfo"), "retryDelay");
  if (*inout_retry_after_ms < 0 && sluice_parse_duration (delay, &delay_ms))
    *inout_retry_after_ms = delay_ms;
  else if (*inout_retry_after_ms < 0 && delay != NULL && g_ascii_isdigit (delay[0]) &&
           g_str_equal (delay + strspn (delay, "0123456789."), "s"))
    /* Too long to count: longer than anyone will wait. */
    *inout_retry_after_ms = G_GINT64_CONSTANT (365) * 24 * 3600 * 1000;
  return classify_error_object (error, default_code);
}

/* An error object where an answer was expected: a 200 body, a stream
 * chunk, or the stray text after a stream. */
static gboolean
read_error_object (SluiceHttpProvider  *provider,
                   JsonNode            *root,
                   SluiceErrorCode     *out_code,
                   char               **out_message)
{
  JsonNode *error = get_error (root);
  g_autofree char *quote = NULL;
  gint64 http_code;

  if (error == NULL)
    return FALSE;
  quote = sluice_http_provider_excerpt (provider, lookup_string (error, "message") ?: "", -1);
  /* Without a status name, the HTTP code it carries tells; without that,
   * an error the server reported is a server error. */
  http_code = JSON_NODE_HOLDS_OBJECT (error) ? sluice_json_get_int (json_node_get_object (error), "code", 0) : 0;
  *out_code = classify_error_object (error, http_code >= 400 && http_code <= 599
                                              ? sluice_http_classify_status ((guint) http_code)
                                              : SLUICE_ERROR_SERVER);
  *out_message = g_strdup_printf ("provider returned an error (%s): %s",
                                  lookup_string (error, "status") ?: "no status", quote);
  return TRUE;
}

/* ---- the answer ------------------------------------------------------------------------------ */

/* "<what> (<reason>: <the categories blocked or rated HIGH>)" */
static char *
describe_filter (const char *what,
                 const char *reason,
                 JsonNode   *ratings)
{
  GString *out = g_string_new (NULL);
  guint n = 0;

  g_string_printf (out, "%s (%s", what, reason);
  for (guint i = 0; i < array_length (ratings); i++)
    {
      JsonNode *rating = array_element (ratings, i);
      const char *category = lookup_string (rating, "category");

      if (category != NULL && (lookup_true (rating, "blocked") ||
                               g_strcmp0 (lookup_string (rating, "probability"), "HIGH") == 0))
        g_string_append_printf (out, "%s%s", n++ > 0 ? ", " : ": ", category);
    }
  g_string_append_c (out, ')');
  return g_string_free (out, FALSE);
}

/* usageMetadata, model and response id: what every answer and chunk may carry. */
static void
read_metadata (SluiceResponse *response,
               JsonNode       *root)
{
  JsonNode *usage = lookup (root, "usageMetadata", JSON_NODE_OBJECT);
  const char *model = lookup_string (root, "modelVersion");
  const char *id = lookup_string (root, "responseId");

  /* Thought tokens are billed as output, as OpenAI's completion_tokens
   * includes its reasoning tokens. */
  if (usage != NULL)
    {
      JsonObject *counts = json_node_get_object (usage);
      gint64 thoughts = sluice_json_get_count (counts, "thoughtsTokenCount", 0);

      sluice_response_set_usage (response, sluice_json_get_count (counts, "promptTokenCount", 0),
                                 sluice_json_get_count (counts, "candidatesTokenCount", 0) + thoughts,
                                 sluice_json_get_count (counts, "cachedContentTokenCount", 0), thoughts, FALSE);
    }
  if (model != NULL)
    sluice_response_set_model (response, model);
  if (id != NULL && sluice_response_get_request_id (response) == NULL)
    sluice_response_set_request_id (response, id);
}

/* Reads one GenerateContentResponse, a whole answer or one chunk: its
 * metadata onto @response, the first candidate's answer text into @text
 * and its functionCall nodes into @calls. Returns the candidate; NULL,
 * with @out_blocked set when the prompt itself was blocked. */
static JsonNode *
read_candidate (JsonNode        *root,
                SluiceResponse  *response,
                GString         *text,
                GPtrArray       *calls,
                char           **out_blocked)
{
  JsonNode *candidate = lookup (root, "candidates.0", JSON_NODE_OBJECT);
  JsonNode *parts = lookup (candidate, "content.parts", JSON_NODE_ARRAY);
  const char *block_reason = lookup_string (root, "promptFeedback.blockReason");

  read_metadata (response, root);
  if (candidate == NULL && block_reason != NULL)
    *out_blocked = describe_filter ("the provider blocked the prompt", block_reason,
                                    lookup (root, "promptFeedback.safetyRatings", JSON_NODE_ARRAY));

  for (guint i = 0; i < array_length (parts); i++)
    {
      JsonNode *part = array_element (parts, i);
      JsonNode *call = lookup (part, "functionCall", JSON_NODE_OBJECT);

      /* Parts marked "thought" summarize the reasoning: not the answer. */
      if (lookup_string (part, "text") != NULL && !lookup_true (part, "thought"))
        g_string_append (text, lookup_string (part, "text"));
      if (lookup_string (call, "name") != NULL)
        g_ptr_array_add (calls, call);
    }
  return candidate;
}

static char *
get_arguments (JsonNode *call)
{
  JsonNode *args = sluice_json_lookup_path (call, "args");

  return args != NULL ? sluice_json_to_string (args) : g_strdup ("{}");
}

/* The finish reason, and the error it means when it is the filter's. */
static const char *
read_finish (JsonNode  *candidate,
             gboolean   called,
             char     **out_filtered)
{
  const char *wire = lookup_string (candidate, "finishReason");
  const char *reason = sluice_http_normalize_finish_reason (wire);

  if (g_strcmp0 (reason, "content_filter") == 0)
    *out_filtered = describe_filter ("the provider's content filter stopped the answer", wire,
                                     lookup (candidate, "safetyRatings", JSON_NODE_ARRAY));
  /* A function call ends with STOP: the answer is the call. */
  return called && g_strcmp0 (reason, "stop") == 0 ? "tool_call" : reason;
}

static void
sluice_gemini_provider_parse_body (SluiceHttpProvider *provider,
                                   SluiceResponse     *response,
                                   JsonNode           *root)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GPtrArray) calls = g_ptr_array_new ();
  char *message = NULL;
  SluiceErrorCode code;
  JsonNode *candidate;

  if (read_error_object (provider, root, &code, &message))
    {
      sluice_http_provider_take_error (response, code, message);
      return;
    }
  candidate = read_candidate (root, response, text, calls, &message);
  if (candidate == NULL)
    {
      if (message == NULL)
        {
          sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED, g_strdup ("provider returned no candidates"));
          return;
        }
      sluice_response_set_finish_reason (response, "content_filter");
      sluice_http_provider_take_error (response, SLUICE_ERROR_CONTENT_FILTER, message);
      return;
    }

  for (guint i = 0; i < calls->len; i++)
    {
      g_autofree char *arguments = get_arguments (g_ptr_array_index (calls, i));

      sluice_response_add_tool_call (response, lookup_string (g_ptr_array_index (calls, i), "id"),
                                     lookup_string (g_ptr_array_index (calls, i), "name"), arguments);
    }
  /* Neither text nor call: the base class reports it. */
  if (text->len > 0)
    sluice_response_set_text (response, text->str);
  sluice_response_set_finish_reason (response, read_finish (candidate, calls->len > 0, &message));
  if (message != NULL)
    sluice_http_provider_take_error (response, SLUICE_ERROR_CONTENT_FILTER, message);
}

/* ---- the stream ------------------------------------------------------------------------------- */

static gboolean
sluice_gemini_provider_stream_event (SluiceHttpProvider *provider,
                                     SluiceHttpStream   *stream,
                                     const char         *event,
                                     const char         *data,
                                     gsize               data_len)
{
  SluiceResponse *response = sluice_http_stream_get_response (stream);
  g_autoptr(JsonNode) root = sluice_json_from_string (data, (gssize) data_len, NULL);
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GPtrArray) calls = g_ptr_array_new ();
  char *message = NULL;
  SluiceErrorCode code;
  JsonNode *candidate;
  guint n_calls;

  if (read_error_object (provider, root, &code, &message))
    {
      sluice_http_stream_fail (stream, code, message);
      return FALSE;
    }
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *quote = sluice_http_provider_excerpt (provider, data, (gssize) data_len);

      sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                               g_strdup_printf ("a chunk that is not a JSON object: \"%s\"", quote));
      return FALSE;
    }

  candidate = read_candidate (root, response, text, calls, &message);
  if (message != NULL)
    {
      sluice_http_stream_set_finish_reason (stream, "content_filter");
      sluice_http_stream_fail (stream, SLUICE_ERROR_CONTENT_FILTER, message);
      return FALSE;
    }
  if (candidate == NULL)
    return TRUE;   /* a chunk with usage only */

  sluice_http_stream_add_text (stream, text->str);
  /* Each functionCall part is a whole call: each takes the next index. */
  n_calls = sluice_http_stream_get_n_tool_calls (stream);
  for (guint i = 0; i < calls->len; i++)
    {
      g_autofree char *arguments = get_arguments (g_ptr_array_index (calls, i));

      sluice_http_stream_add_tool_call (stream, n_calls++, lookup_string (g_ptr_array_index (calls, i), "id"),
                                        lookup_string (g_ptr_array_index (calls, i), "name"), arguments);
    }

  if (lookup_string (candidate, "finishReason") == NULL)
    return TRUE;
  sluice_http_stream_set_finish_reason (stream, read_finish (candidate, n_calls > 0, &message));
  if (message != NULL)
    {
      sluice_http_stream_fail (stream, SLUICE_ERROR_CONTENT_FILTER, message);
      return FALSE;
    }
  /* Read on: there is no terminal event, and some streams repeat the
   * finishReason on every chunk. */
  sluice_http_stream_set_complete (stream);
  return TRUE;
}

/* Gemini may end a stream with a bare JSON error object, not a data line. */
static void
sluice_gemini_provider_stream_end (SluiceHttpProvider *provider,
                                   SluiceHttpStream   *stream,
                                   const char         *stray_text)
{
  g_autoptr(JsonNode) root = stray_text != NULL ? sluice_json_from_string (stray_text, -1, NULL) : NULL;
  SluiceErrorCode code;
  char *message;

  if (read_error_object (provider, root, &code, &message))
    sluice_http_stream_fail (stream, code, message);
}

/* ---- the type ----------------------------------------------------------------------------------- */

static void
sluice_gemini_provider_finalize (GObject *object)
{
  clear_configuration (SLUICE_GEMINI_PROVIDER (object));

  G_OBJECT_CLASS (sluice_gemini_provider_parent_class)->finalize (object);
}

static void
sluice_gemini_provider_class_init (SluiceGeminiProviderClass *klass)
{
  SluiceHttpProviderClass *http_class = SLUICE_HTTP_PROVIDER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = sluice_gemini_provider_finalize;

  http_class->default_base_url = "https://generativelanguage.googleapis.com/v1beta";
  http_class->api_key_required = TRUE;
  http_class->api_key_example = "${GEMINI_API_KEY}";
  http_class->configure = sluice_gemini_provider_configure;
  http_class->build_message = sluice_gemini_provider_build_message;
  http_class->parse_body = sluice_gemini_provider_parse_body;
  http_class->classify_error = sluice_gemini_provider_classify_error;
  http_class->stream_event = sluice_gemini_provider_stream_event;
  http_class->stream_end = sluice_gemini_provider_stream_end;
}

static void
sluice_gemini_provider_init (SluiceGeminiProvider *self)
{
}
