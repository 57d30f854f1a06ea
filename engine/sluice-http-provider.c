/* sluice-http-provider.c — what every HTTP provider does the same way.
 *
 * One attempt is one HTTP exchange. Whatever the server does, the caller
 * gets a SluiceResponse: the answer, or one error kind with a message that
 * names the host and quotes at most a scrubbed excerpt of the body. Only
 * cancellation and a provider used unconfigured are GErrors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-http-provider"

#include "sluice.h"

#include <string.h>

#define DEFAULT_IDLE_TIMEOUT_MS (30 * 1000)
/* The most of a body or of a provider's message an error message quotes. */
#define MAX_EXCERPT_CHARS 400
#define MAX_BODY_EXCERPT_CHARS 120
/* The largest single event a stream may send. */
#define MAX_EVENT_BYTES (8 << 20)
/* The most tool calls one answer may hold. */
#define MAX_TOOL_CALLS 128
/* How long a stream may stay open after its terminal event. */
#define DRAIN_TIMEOUT_MS 1000

typedef struct
{
  char       *model;
  char       *base_url;        /* without a trailing slash */
  char       *host;
  char       *api_key;         /* never logged, never in a message */
  GPtrArray  *extra_headers;   /* name, value, name, value, ... */
  GPtrArray  *secrets;         /* api_key and extra header values: never shown */
  gboolean    stream;
  gint64      idle_timeout_ms;
  gsize       max_response_bytes;
  JsonObject *output_schema;
} SluiceHttpProviderPrivate;

typedef struct
{
  char    *id;
  char    *name;
  GString *arguments;
} ToolCall;

/* One attempt; when streamed, also what the events delivered. */
struct _SluiceHttpStream
{
  SluiceHttpProvider *provider;
  SluiceContext      *context;
  SoupMessage        *message;
  SluiceResponse     *response;
  SluiceSseParser    *parser;
  gint64              start_us;
  GString            *text;
  GPtrArray          *tool_calls;  /* ToolCall, by index */
  char               *finish_reason;
  gboolean            complete;
  gboolean            ended;
  GError             *failure;
  guint               n_events;
  /* Cancels the exchange: on the caller's request, or when a server
   * keeps a whole stream open after its terminal event. */
  GCancellable       *cancellable;
  GCancellable       *caller_cancellable;
  gulong              cancelled_id;
  GSource            *drain_timer;
};

static void provider_iface_init (SluiceProviderInterface *iface);

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (SluiceHttpProvider, sluice_http_provider, G_TYPE_OBJECT,
                                  G_ADD_PRIVATE (SluiceHttpProvider)
                                  G_IMPLEMENT_INTERFACE (SLUICE_TYPE_PROVIDER, provider_iface_init))

static void
clear_secret (char **secret)
{
  if (*secret != NULL)
    explicit_bzero (*secret, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static void
clear_configuration (SluiceHttpProvider *self)
{
  SluiceHttpProviderPrivate *priv = sluice_http_provider_get_instance_private (self);

  g_clear_pointer (&priv->model, g_free);
  g_clear_pointer (&priv->base_url, g_free);
  g_clear_pointer (&priv->host, g_free);
  clear_secret (&priv->api_key);
  g_clear_pointer (&priv->extra_headers, g_ptr_array_unref);
  g_clear_pointer (&priv->secrets, g_ptr_array_unref);
  g_clear_pointer (&priv->output_schema, json_object_unref);
  priv->stream = FALSE;
}

static void
sluice_http_provider_finalize (GObject *object)
{
  clear_configuration (SLUICE_HTTP_PROVIDER (object));

  G_OBJECT_CLASS (sluice_http_provider_parent_class)->finalize (object);
}

static void
sluice_http_provider_class_init (SluiceHttpProviderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_http_provider_finalize;
  klass->api_key_required = TRUE;
}

static void
sluice_http_provider_init (SluiceHttpProvider *self)
{
}

/* ---- configuration ----------------------------------------------------------- */

static gboolean
node_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
read_model (SluiceHttpProviderPrivate  *priv,
            JsonObject                 *target,
            GError                    **error)
{
  JsonNode *node = json_object_get_member (target, "model");

  if (!node_is_string (node) || *json_node_get_string (node) == '\0')
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'model' is required: the provider's name of the model");
      return FALSE;
    }
  priv->model = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
read_api_key (SluiceHttpProviderClass    *klass,
              SluiceHttpProviderPrivate  *priv,
              JsonObject                 *target,
              GError                    **error)
{
  JsonNode *node = json_object_get_member (target, "api_key");

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && !node_is_string (node))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'api_key' must be a string");
      return FALSE;
    }
  if (node == NULL || JSON_NODE_HOLDS_NULL (node) || *json_node_get_string (node) == '\0')
    {
      if (!klass->api_key_required)
        return TRUE;
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_AUTH,
                   "no API key: set api_key (e.g. api_key: %s)",
                   klass->api_key_example != NULL ? klass->api_key_example : "${API_KEY}");
      return FALSE;
    }
  if (strpbrk (json_node_get_string (node), "\r\n") != NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_AUTH,
                           "'api_key' holds a line break; check the variable it comes from");
      return FALSE;
    }
  /* Sent trimmed (header values are), so scrubbed trimmed. */
  priv->api_key = g_strstrip (g_strdup (json_node_get_string (node)));
  if (*priv->api_key == '\0')
    {
      clear_secret (&priv->api_key);
      if (!klass->api_key_required)
        return TRUE;
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_AUTH, "'api_key' is only white space");
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_base_url (SluiceHttpProviderClass    *klass,
               SluiceHttpProviderPrivate  *priv,
               JsonObject                 *target,
               GError                    **error)
{
  JsonNode *node = json_object_get_member (target, "base_url");
  g_autoptr(GUri) uri = NULL;
  char *base;
  gsize len;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && !node_is_string (node))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "'base_url' must be a string");
      return FALSE;
    }
  /* Empty means the default: pipelines that take base_url from
   * ${SLUICE_BASE_URL:-} run unchanged against the real endpoint. */
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node) && *json_node_get_string (node) != '\0')
    base = g_strdup (json_node_get_string (node));
  else
    base = g_strdup (klass->default_base_url);
  if (base == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'base_url' is required, e.g. base_url: http://localhost:11434/v1");
      return FALSE;
    }
  priv->base_url = base;
  len = strlen (base);
  while (len > 0 && base[len - 1] == '/')
    base[--len] = '\0';

  /* The URL is not quoted back: it may carry credentials. */
  uri = g_uri_parse (base, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_ascii_strcasecmp (g_uri_get_scheme (uri), "http") != 0 &&
       g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") != 0))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'base_url' must be an http:// or https:// URL");
      return FALSE;
    }
  priv->host = g_strdup (g_uri_get_host (uri));
  return TRUE;
}

static gboolean
header_name_is_valid (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("!#$%&'*+-.^_`|~", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
read_extra_headers (SluiceHttpProviderPrivate  *priv,
                    JsonObject                 *target,
                    GError                    **error)
{
  JsonNode *node = json_object_get_member (target, "extra_headers");
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  priv->extra_headers = g_ptr_array_new_with_free_func (g_free);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'extra_headers' must be an object of strings");
      return FALSE;
    }

  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &name, &value))
    {
      /* The value is never quoted: it may well be a credential. */
      if (!header_name_is_valid (name) || !node_is_string (value) ||
          strpbrk (json_node_get_string (value), "\r\n") != NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "extra_headers: '%s' must be a header name with a one-line string value", name);
          return FALSE;
        }
      g_ptr_array_add (priv->extra_headers, g_strdup (name));
      g_ptr_array_add (priv->extra_headers, g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

/* stream: a boolean, or the text of one (a value from ${SLUICE_STREAM}). */
static gboolean
read_stream (SluiceHttpProviderPrivate  *priv,
             JsonObject                 *target,
             GError                    **error)
{
  JsonNode *node = json_object_get_member (target, "stream");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    {
      priv->stream = json_node_get_boolean (node);
      return TRUE;
    }
  if (node_is_string (node) && (g_str_equal (json_node_get_string (node), "true") ||
                                g_str_equal (json_node_get_string (node), "false")))
    {
      priv->stream = g_str_equal (json_node_get_string (node), "true");
      return TRUE;
    }
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "'stream' must be true or false");
  return FALSE;
}

static gboolean
read_common (SluiceHttpProvider  *self,
             JsonObject          *target,
             GError             **error)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (self);
  SluiceHttpProviderPrivate *priv = sluice_http_provider_get_instance_private (self);
  JsonNode *schema, *node;

  if (!read_model (priv, target, error) ||
      !read_api_key (klass, priv, target, error) ||
      !read_base_url (klass, priv, target, error) ||
      !read_extra_headers (priv, target, error) ||
      !read_stream (priv, target, error) ||
      !sluice_config_get_duration (target, "idle_timeout", DEFAULT_IDLE_TIMEOUT_MS,
                                   &priv->idle_timeout_ms, error))
    return FALSE;

  node = json_object_get_member (target, "max_response_bytes");
  priv->max_response_bytes = SLUICE_HTTP_MAX_BODY;
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
          json_node_get_int (node) < 1024 || json_node_get_int (node) > SLUICE_HTTP_MAX_BODY)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "'max_response_bytes' must be an integer from 1024 to %d", SLUICE_HTTP_MAX_BODY);
          return FALSE;
        }
      priv->max_response_bytes = (gsize) json_node_get_int (node);
    }

  /* An extra header may carry a credential (Azure's api-key): every value
   * long enough to be one is kept out of messages like the key. */
  priv->secrets = g_ptr_array_new ();
  if (priv->api_key != NULL)
    g_ptr_array_add (priv->secrets, priv->api_key);
  for (guint i = 1; i < priv->extra_headers->len; i += 2)
    if (strlen (g_ptr_array_index (priv->extra_headers, i)) >= 8)
      g_ptr_array_add (priv->secrets, g_ptr_array_index (priv->extra_headers, i));

  schema = json_object_get_member (target, "output_schema");
  if (schema != NULL && JSON_NODE_HOLDS_OBJECT (schema))
    priv->output_schema = json_object_ref (json_node_get_object (schema));
  return TRUE;
}

static gboolean
sluice_http_provider_configure (SluiceProvider  *provider,
                                JsonObject      *target,
                                GError         **error)
{
  SluiceHttpProvider *self = SLUICE_HTTP_PROVIDER (provider);
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (self);

  clear_configuration (self);
  if (read_common (self, target, error) &&
      (klass->configure == NULL || klass->configure (self, target, error)))
    return TRUE;
  /* Half a configuration is none: send_async then refuses to run. */
  clear_configuration (self);
  return FALSE;
}

/* ---- for subclasses ------------------------------------------------------------- */

#define PRIV(self) ((SluiceHttpProviderPrivate *) sluice_http_provider_get_instance_private (self))

const char *
sluice_http_provider_get_model (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return PRIV (self)->model;
}

const char *
sluice_http_provider_get_base_url (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return PRIV (self)->base_url;
}

const char *
sluice_http_provider_get_host (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return PRIV (self)->host;
}

const char *
sluice_http_provider_get_api_key (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return PRIV (self)->api_key;
}

JsonObject *
sluice_http_provider_get_output_schema (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return PRIV (self)->output_schema;
}

gboolean
sluice_http_provider_get_stream (SluiceHttpProvider *self)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), FALSE);
  return PRIV (self)->stream;
}

SoupMessage *
sluice_http_provider_new_message (SluiceHttpProvider *self,
                                  const char         *path,
                                  JsonNode           *body)
{
  SluiceHttpProviderPrivate *priv = PRIV (self);
  g_autofree char *url = g_strconcat (priv->base_url, path, NULL);
  g_autofree char *text = NULL;
  g_autoptr(GBytes) bytes = NULL;
  SoupMessage *msg;
  gsize len;
  SoupMessageHeaders *headers;

  msg = soup_message_new (SOUP_METHOD_POST, url);
  if (msg == NULL)
    return NULL;

  /* A redirect would carry the key to another host. libsoup reuses a
   * kept-alive connection for a POST only when it is marked idempotent;
   * a resend on a connection the server just closed is what the call
   * stage's retries do anyway. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);

  headers = soup_message_get_request_headers (msg);
  soup_message_headers_replace (headers, "Accept",
                                priv->stream ? "text/event-stream, application/json" : "application/json");
  for (guint i = 0; i + 1 < priv->extra_headers->len; i += 2)
    soup_message_headers_replace (headers, g_ptr_array_index (priv->extra_headers, i),
                                  g_ptr_array_index (priv->extra_headers, i + 1));

  text = sluice_json_to_string (body);
  len = strlen (text);
  bytes = g_bytes_new_take (g_steal_pointer (&text), len);
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  return msg;
}

/* Text with every secret of the target replaced. */
static char *
scrub (SluiceHttpProviderPrivate *priv,
       const char                *text)
{
  char *scrubbed = g_strdup (text);

  for (guint i = 0; priv->secrets != NULL && i < priv->secrets->len; i++)
    {
      char *next = sluice_text_scrub_secret (scrubbed, g_ptr_array_index (priv->secrets, i));

      g_free (scrubbed);
      scrubbed = next;
    }
  return scrubbed;
}

static char *
excerpt (SluiceHttpProviderPrivate *priv,
         const char                *text,
         gssize                     len,
         guint                      max_chars)
{
  g_autofree char *line = sluice_text_excerpt (text, len, max_chars, NULL);

  return scrub (priv, line);
}

char *
sluice_http_provider_excerpt (SluiceHttpProvider *self,
                              const char         *text,
                              gssize              len)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return excerpt (PRIV (self), text, len, MAX_EXCERPT_CHARS);
}

void
sluice_http_provider_take_error (SluiceResponse  *response,
                                 SluiceErrorCode  code,
                                 char            *message)
{
  guint status = sluice_response_get_http_status (response);

  if (status != 0 && !SOUP_STATUS_IS_SUCCESSFUL (status))
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, code, "HTTP %u: %s", status, message));
  else
    sluice_response_take_error (response, g_error_new_literal (SLUICE_ERROR, code, message));
  g_free (message);
}

const char *
sluice_http_normalize_finish_reason (const char *reason)
{
  static const struct { const char *wire; const char *reason; } reasons[] = {
    /* OpenAI */
    { "length", "length" }, { "content_filter", "content_filter" },
    { "tool_calls", "tool_call" }, { "function_call", "tool_call" },
    /* Anthropic */
    { "max_tokens", "length" }, { "model_context_window_exceeded", "length" },
    { "tool_use", "tool_call" }, { "refusal", "content_filter" },
    /* Gemini */
    { "MAX_TOKENS", "length" }, { "SAFETY", "content_filter" }, { "RECITATION", "content_filter" },
    { "BLOCKLIST", "content_filter" }, { "PROHIBITED_CONTENT", "content_filter" },
    { "SPII", "content_filter" }, { "IMAGE_SAFETY", "content_filter" },
  };

  if (reason == NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    if (g_str_equal (reason, reasons[i].wire))
      return reasons[i].reason;
  /* stop, end_turn, stop_sequence, STOP, and what local servers say ("eos"). */
  return "stop";
}

/* ---- a streamed answer ----------------------------------------------------------- */

static void
tool_call_free (ToolCall *call)
{
  g_free (call->id);
  g_free (call->name);
  g_string_free (call->arguments, TRUE);
  g_free (call);
}

static void
attempt_free (SluiceHttpStream *stream)
{
  if (stream->drain_timer != NULL)
    {
      g_source_destroy (stream->drain_timer);
      g_source_unref (stream->drain_timer);
    }
  if (stream->caller_cancellable != NULL)
    g_cancellable_disconnect (stream->caller_cancellable, stream->cancelled_id);
  g_clear_object (&stream->caller_cancellable);
  g_clear_object (&stream->cancellable);
  g_clear_object (&stream->provider);
  g_clear_object (&stream->context);
  g_clear_object (&stream->message);
  g_clear_object (&stream->response);
  g_clear_pointer (&stream->parser, sluice_sse_parser_free);
  g_string_free (stream->text, TRUE);
  g_ptr_array_unref (stream->tool_calls);
  g_free (stream->finish_reason);
  g_clear_error (&stream->failure);
  g_free (stream);
}

static void
mark_first_token (SluiceHttpStream *stream)
{
  if (sluice_response_get_ttft_us (stream->response) < 0)
    sluice_response_set_ttft_us (stream->response, g_get_monotonic_time () - stream->start_us);
}

SluiceResponse *
sluice_http_stream_get_response (SluiceHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, NULL);
  return stream->response;
}

void
sluice_http_stream_add_text (SluiceHttpStream *stream,
                             const char       *text)
{
  g_return_if_fail (stream != NULL);

  if (text == NULL || *text == '\0')
    return;
  mark_first_token (stream);
  g_string_append (stream->text, text);
}

void
sluice_http_stream_add_tool_call (SluiceHttpStream *stream,
                                  guint             index,
                                  const char       *id,
                                  const char       *name,
                                  const char       *arguments)
{
  ToolCall *call;

  g_return_if_fail (stream != NULL);

  /* Indexes come from the provider: a gap is filled, but no answer holds
   * more than MAX_TOOL_CALLS calls (a hostile stream could ask for
   * millions). */
  if (index >= MAX_TOOL_CALLS)
    {
      sluice_http_stream_fail (stream, SLUICE_ERROR_MALFORMED,
                               g_strdup_printf ("a tool call at index %u (at most %d are read)",
                                                index, MAX_TOOL_CALLS));
      return;
    }
  while (stream->tool_calls->len <= index)
    {
      call = g_new0 (ToolCall, 1);
      call->arguments = g_string_new (NULL);
      g_ptr_array_add (stream->tool_calls, call);
    }
  call = g_ptr_array_index (stream->tool_calls, index);
  mark_first_token (stream);
  if (id != NULL && call->id == NULL)
    call->id = g_strdup (id);
  if (name != NULL && call->name == NULL)
    call->name = g_strdup (name);
  if (arguments != NULL)
    g_string_append (call->arguments, arguments);
}

void
sluice_http_stream_set_finish_reason (SluiceHttpStream *stream,
                                      const char       *reason)
{
  g_return_if_fail (stream != NULL);
  g_free (stream->finish_reason);
  stream->finish_reason = g_strdup (reason);
}

void
sluice_http_stream_set_complete (SluiceHttpStream *stream)
{
  g_return_if_fail (stream != NULL);
  stream->complete = TRUE;
}

void
sluice_http_stream_set_ended (SluiceHttpStream *stream)
{
  g_return_if_fail (stream != NULL);
  stream->complete = TRUE;
  stream->ended = TRUE;
}

void
sluice_http_stream_fail (SluiceHttpStream *stream,
                         SluiceErrorCode   code,
                         char             *message)
{
  g_return_if_fail (stream != NULL);

  /* The first failure is the cause; later ones follow from it. */
  if (stream->failure == NULL)
    stream->failure = g_error_new (SLUICE_ERROR, code, "the stream from %s failed after %u events: %s",
                                   PRIV (stream->provider)->host, stream->n_events, message);
  g_free (message);
}

guint
sluice_http_stream_get_n_tool_calls (SluiceHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, 0);
  return stream->tool_calls->len;
}

guint
sluice_http_stream_get_n_events (SluiceHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, 0);
  return stream->n_events;
}

static void
on_caller_cancelled (GCancellable *caller,
                     gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static gboolean
on_event (const char *event,
          const char *data,
          gsize       data_len,
          gpointer    user_data)
{
  SluiceHttpStream *stream = user_data;
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (stream->provider);

  gboolean go_on;

  stream->n_events++;
  if (stream->failure != NULL)
    return FALSE;
  /* After the terminal event nothing belongs to the answer. */
  if (stream->ended)
    return TRUE;
  go_on = klass->stream_event (stream->provider, stream, event, data, data_len) && stream->failure == NULL;

  /* The answer is whole: reading on lets the connection be reused, but a
   * server that keeps it open after the end must not hold the answer. */
  if (stream->ended && stream->drain_timer == NULL && stream->cancellable != NULL)
    {
      stream->drain_timer = g_timeout_source_new (DRAIN_TIMEOUT_MS);
      g_source_set_callback (stream->drain_timer, on_drain_timeout, stream->cancellable, NULL);
      g_source_attach (stream->drain_timer, g_main_context_get_thread_default ());
    }
  return go_on;
}

/* ---- turning an exchange into a response ------------------------------------------- */

static gint64
estimate_prompt_tokens (SluiceContext *context)
{
  JsonArray *messages = sluice_context_get_messages (context);
  gint64 tokens = 0;

  for (guint i = 0; messages != NULL && i < json_array_get_length (messages); i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      JsonObject *message = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;

      /* A few tokens of framing per message, as chat formats add. */
      tokens += 4 + sluice_estimate_tokens (sluice_json_get_string (message, "content"));
    }
  return tokens;
}

/* What every successful answer must hold, whoever parsed it. */
static void
finish_answer (SluiceHttpStream *attempt)
{
  SluiceResponse *response = attempt->response;
  JsonArray *calls = sluice_response_get_tool_calls (response);
  const char *reason = sluice_response_get_finish_reason (response);

  if (sluice_response_get_error (response) != NULL)
    return;

  if (sluice_response_get_text (response) == NULL && calls != NULL && json_array_get_length (calls) > 0)
    {
      /* A tool call is the answer: its arguments are what parse reads. */
      sluice_response_set_text (response, sluice_json_get_string (json_array_get_object_element (calls, 0),
                                                                   "arguments"));
      if (reason == NULL)
        sluice_response_set_finish_reason (response, "tool_call");
    }

  if (g_strcmp0 (sluice_response_get_finish_reason (response), "content_filter") == 0)
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_CONTENT_FILTER,
                                       g_strdup ("the provider's content filter stopped the answer"));
      return;
    }
  /* A thinking model can spend its whole budget before the answer: an
   * empty answer cut by length, not a broken one (retrying would not help). */
  if (sluice_response_get_text (response) == NULL &&
      g_strcmp0 (sluice_response_get_finish_reason (response), "length") == 0)
    sluice_response_set_text (response, "");
  if (sluice_response_get_text (response) == NULL)
    {
      sluice_http_provider_take_error (response, SLUICE_ERROR_MALFORMED,
                                       g_strdup_printf ("the answer from %s holds no text and no tool call",
                                                        PRIV (attempt->provider)->host));
      return;
    }

  /* Local servers often report no usage: an estimate, marked as one,
   * beats a cost of nothing. */
  if (sluice_response_get_prompt_tokens (response) < 0 || sluice_response_get_completion_tokens (response) < 0)
    {
      gint64 prompt = sluice_response_get_prompt_tokens (response);
      gint64 completion = sluice_response_get_completion_tokens (response);

      sluice_response_set_usage (response,
                                 prompt >= 0 ? prompt : estimate_prompt_tokens (attempt->context),
                                 completion >= 0 ? completion
                                                 : sluice_estimate_tokens (sluice_response_get_text (response)),
                                 sluice_response_get_cached_tokens (response),
                                 sluice_response_get_reasoning_tokens (response), TRUE);
    }
  if (sluice_response_get_model (response) == NULL)
    sluice_response_set_model (response, PRIV (attempt->provider)->model);
}

static void
read_error_answer (SluiceHttpStream   *attempt,
                   guint               status,
                   SoupMessageHeaders *headers,
                   JsonNode           *root)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SluiceHttpProviderPrivate *priv = PRIV (attempt->provider);
  SluiceErrorCode code = sluice_http_classify_status (status);
  gint64 retry_after = sluice_response_get_retry_after_ms (attempt->response);
  g_autofree char *provider_message = NULL;
  char *message;

  if (klass->classify_error != NULL)
    code = klass->classify_error (attempt->provider, status, headers, root, code,
                                  &provider_message, &retry_after);
  sluice_response_set_retry_after_ms (attempt->response, retry_after);
  /* The id support asks for: Anthropic's error bodies carry it too. */
  if (sluice_response_get_request_id (attempt->response) == NULL && root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    sluice_response_set_request_id (attempt->response,
                                    sluice_json_get_string (json_node_get_object (root), "request_id"));

  if (provider_message != NULL && *provider_message != '\0')
    message = excerpt (priv, provider_message, -1, MAX_EXCERPT_CHARS);
  else if (status >= 300 && status < 400)
    message = g_strdup ("a redirect; check base_url");
  else
    message = g_strdup_printf ("an error from %s (%s)", priv->host, sluice_http_describe_content_type (headers));
  sluice_http_provider_take_error (attempt->response, code, message);
}

/* A whole body: the answer, or an error. */
static void
read_body (SluiceHttpStream *attempt,
           GBytes           *bytes)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SoupMessageHeaders *headers = soup_message_get_response_headers (attempt->message);
  guint status = soup_message_get_status (attempt->message);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(JsonNode) root = NULL;

  if (data != NULL && len > 0)
    root = sluice_json_from_string (data, (gssize) len, NULL);

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      read_error_answer (attempt, status, headers, root);
      return;
    }
  if (root == NULL)
    {
      g_autofree char *quote = excerpt (PRIV (attempt->provider), data, (gssize) len, MAX_BODY_EXCERPT_CHARS);

      sluice_http_provider_take_error (attempt->response, SLUICE_ERROR_MALFORMED,
                                       g_strdup_printf ("an unparseable body from %s (%s, %" G_GSIZE_FORMAT
                                                        " bytes)%s%s%s",
                                                        PRIV (attempt->provider)->host,
                                                        sluice_http_describe_content_type (headers), len,
                                                        *quote != '\0' ? ": \"" : "", quote,
                                                        *quote != '\0' ? "\"" : ""));
      return;
    }
  klass->parse_body (attempt->provider, attempt->response, root);
  finish_answer (attempt);
}

/* The end of an event stream: whole, failed, or cut. */
static void
read_stream_end (SluiceHttpStream *attempt)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SluiceResponse *response = attempt->response;

  if (attempt->failure == NULL && !attempt->complete && klass->stream_end != NULL)
    klass->stream_end (attempt->provider, attempt, sluice_sse_parser_get_stray_text (attempt->parser));

  if (attempt->failure != NULL)
    {
      sluice_response_take_error (response, g_steal_pointer (&attempt->failure));
      return;
    }
  if (attempt->n_events == 0)
    {
      /* Not a stream at all: an HTML page or garbage sent as one. */
      const char *stray = sluice_sse_parser_get_stray_text (attempt->parser);
      g_autofree char *quote = excerpt (PRIV (attempt->provider), stray, -1, MAX_BODY_EXCERPT_CHARS);

      sluice_response_take_error (response,
                                  g_error_new (SLUICE_ERROR, SLUICE_ERROR_MALFORMED,
                                               "an event stream from %s with no events%s%s%s",
                                               PRIV (attempt->provider)->host,
                                               *quote != '\0' ? ": \"" : "", quote,
                                               *quote != '\0' ? "\"" : ""));
      return;
    }
  if (!attempt->complete)
    {
      sluice_response_take_error (response,
                                  g_error_new (SLUICE_ERROR, SLUICE_ERROR_TRUNCATED,
                                               "the stream from %s ended after %u events without its "
                                               "terminal event", PRIV (attempt->provider)->host,
                                               attempt->n_events));
      return;
    }

  if (attempt->text->len > 0)
    sluice_response_set_text (response, attempt->text->str);
  for (guint i = 0; i < attempt->tool_calls->len; i++)
    {
      ToolCall *call = g_ptr_array_index (attempt->tool_calls, i);

      if (call->name != NULL)
        sluice_response_add_tool_call (response, call->id, call->name, call->arguments->str);
    }
  if (attempt->finish_reason != NULL)
    sluice_response_set_finish_reason (response, attempt->finish_reason);
  finish_answer (attempt);
}

static void
transport_failure (SluiceHttpStream *attempt,
                   const GError     *error)
{
  SluiceHttpProviderPrivate *priv = PRIV (attempt->provider);
  SluiceResponse *response = attempt->response;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE))
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_MALFORMED,
                                                       "the answer from %s was too large: %s",
                                                       priv->host, error->message));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_TIMEOUT,
                                                       "the stream from %s stalled after %u events: %s",
                                                       priv->host, attempt->n_events, error->message));
  else if (attempt->n_events == 0 && sluice_response_get_http_status (response) >= 200)
    {
      guint status = sluice_response_get_http_status (response);

      /* The status came, the body broke off: a cut answer is malformed,
       * a cut error still says what its status says. */
      sluice_response_take_error (response,
                                  g_error_new (SLUICE_ERROR,
                                               SOUP_STATUS_IS_SUCCESSFUL (status)
                                                 ? SLUICE_ERROR_MALFORMED : sluice_http_classify_status (status),
                                               "the body from %s was cut short: %s", priv->host, error->message));
    }
  else if (attempt->n_events > 0)
    /* Reset or closed mid-stream: the answer is cut, whatever the cause. */
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_TRUNCATED,
                                                       "the stream from %s broke after %u events: %s",
                                                       priv->host, attempt->n_events, error->message));
  else
    /* Connection refused or reset, TLS, DNS: the transport's message
     * names the host, never the request. */
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_NETWORK,
                                                       "request to %s failed: %s",
                                                       priv->host, error->message));
}

/* What the server said of itself goes into records and messages: a
 * hostile or careless one may echo a secret in any of it. */
static void
scrub_response (SluiceHttpProviderPrivate *priv,
                SluiceResponse            *response)
{
  const GError *error = sluice_response_get_error (response);
  g_autofree char *model = NULL;
  g_autofree char *request_id = NULL;

  if (sluice_response_get_model (response) != NULL)
    {
      model = scrub (priv, sluice_response_get_model (response));
      sluice_response_set_model (response, model);
    }
  if (sluice_response_get_request_id (response) != NULL)
    {
      request_id = scrub (priv, sluice_response_get_request_id (response));
      sluice_response_set_request_id (response, request_id);
    }
  if (error != NULL)
    {
      g_autofree char *message = scrub (priv, error->message);

      if (!g_str_equal (message, error->message))
        sluice_response_take_error (response, g_error_new_literal (error->domain, error->code, message));
    }
}

static void
return_response (GTask *task)
{
  SluiceHttpStream *attempt = g_task_get_task_data (task);
  SluiceResponse *response = attempt->response;
  const GError *error;

  scrub_response (PRIV (attempt->provider), response);
  error = sluice_response_get_error (response);

  g_debug ("HTTP %u from %s, %s", sluice_response_get_http_status (response),
           PRIV (attempt->provider)->host, error != NULL ? sluice_error_kind (error->code) : "ok");
  g_task_return_pointer (task, g_object_ref (response), g_object_unref);
}

/* Status, Retry-After and the request id: known before the body is. */
static void
read_head (SluiceHttpStream *attempt)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SoupMessageHeaders *headers = soup_message_get_response_headers (attempt->message);
  const char *id = klass->request_id_header != NULL
    ? soup_message_headers_get_one (headers, klass->request_id_header) : NULL;

  sluice_response_set_http_status (attempt->response, soup_message_get_status (attempt->message));
  sluice_response_set_retry_after_ms (attempt->response, sluice_http_parse_retry_after (headers));
  if (id != NULL && *id != '\0')
    sluice_response_set_request_id (attempt->response, id);
}

static gboolean
return_if_cancelled (GTask        *task,
                     const GError *error)
{
  /* Cancelled, or cancelled while something else broke: the caller asked to stop. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the attempt was cancelled");
      return TRUE;
    }
  return FALSE;
}

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SluiceHttpStream *attempt = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = sluice_http_send_and_read_finish (result, &error);

  read_head (attempt);
  if (bytes == NULL)
    {
      if (!return_if_cancelled (task, error))
        {
          transport_failure (attempt, error);
          return_response (task);
        }
      return;
    }
  read_body (attempt, bytes);
  return_response (task);
}

static void
on_streamed (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SluiceHttpStream *attempt = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  read_head (attempt);
  sluice_response_set_streamed (attempt->response, TRUE);
  if (!sluice_http_stream_finish (result, &bytes, &error) &&
      !(attempt->complete && attempt->failure == NULL &&
        !g_cancellable_is_cancelled (g_task_get_cancellable (task))))
    {
      if (!return_if_cancelled (task, error))
        {
          transport_failure (attempt, error);
          return_response (task);
        }
      return;
    }
  if (bytes != NULL)
    {
      /* Not an event stream: an error answer, or a server that ignored stream. */
      sluice_response_set_streamed (attempt->response, FALSE);
      read_body (attempt, bytes);
    }
  else
    read_stream_end (attempt);
  return_response (task);
}

static void
sluice_http_provider_send_async (SluiceProvider      *provider,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SluiceHttpProvider *self = SLUICE_HTTP_PROVIDER (provider);
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (self);
  SluiceHttpProviderPrivate *priv = PRIV (self);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  SluiceHttpStream *attempt;
  JsonArray *messages;

  g_task_set_source_tag (task, sluice_http_provider_send_async);

  if (priv->model == NULL)
    {
      g_task_return_new_error (task, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "the %s provider was used before it was configured", G_OBJECT_TYPE_NAME (self));
      return;
    }

  attempt = g_new0 (SluiceHttpStream, 1);
  attempt->provider = g_object_ref (self);
  attempt->context = g_object_ref (context);
  attempt->response = sluice_response_new ();
  attempt->text = g_string_new (NULL);
  attempt->tool_calls = g_ptr_array_new_with_free_func ((GDestroyNotify) tool_call_free);
  g_task_set_task_data (task, attempt, (GDestroyNotify) attempt_free);

  messages = sluice_context_get_messages (context);
  if (messages == NULL || json_array_get_length (messages) == 0)
    {
      sluice_http_provider_take_error (attempt->response, SLUICE_ERROR_BAD_REQUEST,
                                       g_strdup ("no messages to send: add an assemble stage"));
      return_response (task);
      return;
    }

  attempt->message = klass->build_message (self, context, priv->stream, &error);
  if (attempt->message == NULL)
    {
      if (error == NULL)
        error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                             "cannot build a request for the base_url of host %s", priv->host);
      sluice_http_provider_take_error (attempt->response, (SluiceErrorCode) error->code,
                                       g_strdup (error->message));
      return_response (task);
      return;
    }

  attempt->start_us = g_get_monotonic_time ();
  if (priv->stream)
    {
      attempt->parser = sluice_sse_parser_new (MAX_EVENT_BYTES, on_event, attempt);
      attempt->cancellable = g_cancellable_new ();
      if (cancellable != NULL)
        {
          attempt->caller_cancellable = g_object_ref (cancellable);
          attempt->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                                         attempt->cancellable, NULL);
        }
      sluice_http_stream_async (attempt->message, attempt->parser, priv->max_response_bytes,
                                priv->idle_timeout_ms, attempt->cancellable, on_streamed,
                                g_steal_pointer (&task));
    }
  else
    sluice_http_send_and_read_async (attempt->message, priv->max_response_bytes, cancellable,
                                     on_read, g_steal_pointer (&task));
}

static SluiceResponse *
sluice_http_provider_send_finish (SluiceProvider  *provider,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
provider_iface_init (SluiceProviderInterface *iface)
{
  iface->configure = sluice_http_provider_configure;
  iface->send_async = sluice_http_provider_send_async;
  iface->send_finish = sluice_http_provider_send_finish;
}
