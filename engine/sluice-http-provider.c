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

#include "sluice-http-provider-private.h"

#include <string.h>


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
  SluiceHttpProviderPrivate *priv = sluice_http_provider_get_instance_private (SLUICE_HTTP_PROVIDER (object));

  clear_configuration (SLUICE_HTTP_PROVIDER (object));
  g_clear_weak_pointer (&priv->engine);

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
                                   &priv->idle_timeout_ms, error) ||
      !sluice_config_get_duration (target, "connect_timeout", 0, &priv->connect_timeout_ms, error) ||
      !sluice_config_get_duration (target, "first_byte_timeout", 0, &priv->first_byte_timeout_ms, error))
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
  /* kept for sluice_provider_render_request(): libsoup does not give the body back */
  g_object_set_data_full (G_OBJECT (msg), "sluice-request-body", json_node_ref (body),
                          (GDestroyNotify) json_node_unref);
  return msg;
}

SluiceHttpProviderPrivate *
sluice_http_provider_get_private (SluiceHttpProvider *self)
{
  return sluice_http_provider_get_instance_private (self);
}

void
sluice_http_provider_set_engine (SluiceHttpProvider *self,
                                 SluiceEngine       *engine)
{
  g_set_weak_pointer (&PRIV (self)->engine, engine);
}

char *
sluice_http_provider_scrub (SluiceHttpProviderPrivate *priv,
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

char *
sluice_http_provider_quote (SluiceHttpProviderPrivate *priv,
                            const char                *text,
                            gssize                     len,
                            guint                      max_chars)
{
  g_autofree char *whole = NULL;
  g_autofree char *line = NULL;

  /* Scrubbed before it is cut and folded (a cut or folded key would no
   * longer match), and after, for anything the cut made look like one. */
  if (text != NULL && len >= 0)
    {
      g_autofree char *copy = g_strndup (text, (gsize) len);

      whole = sluice_http_provider_scrub (priv, copy);
    }
  else
    whole = sluice_http_provider_scrub (priv, text);
  line = sluice_text_excerpt (whole, -1, max_chars, NULL);
  return sluice_http_provider_scrub (priv, line);
}

char *
sluice_http_provider_excerpt (SluiceHttpProvider *self,
                              const char         *text,
                              gssize              len)
{
  g_return_val_if_fail (SLUICE_IS_HTTP_PROVIDER (self), NULL);
  return sluice_http_provider_quote (PRIV (self), text, len, MAX_EXCERPT_CHARS);
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

static void
return_response (GTask *task)
{
  SluiceHttpStream *attempt = g_task_get_task_data (task);
  SluiceResponse *response = attempt->response;
  const GError *error;

  sluice_http_answer_scrub (attempt);
  error = sluice_response_get_error (response);

  g_debug ("HTTP %u from %s, %s", sluice_response_get_http_status (response),
           PRIV (attempt->provider)->host, error != NULL ? sluice_error_kind (error->code) : "ok");
  g_task_return_pointer (task, g_object_ref (response), g_object_unref);
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

  sluice_http_answer_read_head (attempt);
  if (bytes == NULL)
    {
      if (!return_if_cancelled (task, error))
        {
          sluice_http_answer_transport_failure (attempt, error);
          return_response (task);
        }
      return;
    }
  sluice_http_answer_read_body (attempt, bytes);
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

  sluice_http_answer_read_head (attempt);
  sluice_response_set_streamed (attempt->response, TRUE);
  if (!sluice_http_stream_finish (result, &bytes, &error) &&
      !(attempt->complete && attempt->failure == NULL &&
        !g_cancellable_is_cancelled (g_task_get_cancellable (task))))
    {
      if (!return_if_cancelled (task, error))
        {
          sluice_http_answer_transport_failure (attempt, error);
          return_response (task);
        }
      return;
    }
  if (bytes != NULL)
    {
      /* Not an event stream: an error answer, or a server that ignored stream. */
      sluice_response_set_streamed (attempt->response, FALSE);
      sluice_http_answer_read_body (attempt, bytes);
    }
  else
    sluice_http_answer_read_stream_end (attempt);
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
  SoupSession *session;
  JsonArray *messages;

  g_task_set_source_tag (task, sluice_http_provider_send_async);

  if (priv->model == NULL)
    {
      g_task_return_new_error (task, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "the %s provider was used before it was configured", G_OBJECT_TYPE_NAME (self));
      return;
    }

  attempt = sluice_http_stream_new (self, context);
  g_task_set_task_data (task, attempt, (GDestroyNotify) sluice_http_stream_free);

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

  session = priv->engine != NULL ? sluice_engine_get_http_session (priv->engine, priv->stream) : NULL;
  sluice_http_message_set_phase_timeouts (attempt->message, priv->connect_timeout_ms, priv->first_byte_timeout_ms);
  attempt->start_us = g_get_monotonic_time ();
  if (priv->stream)
    {
      GCancellable *exchange = sluice_http_stream_start (attempt, cancellable);

      sluice_http_stream_async (session, attempt->message, attempt->parser, priv->max_response_bytes,
                                priv->idle_timeout_ms, exchange, on_streamed, g_steal_pointer (&task));
    }
  else
    sluice_http_send_and_read_async (session, attempt->message, priv->max_response_bytes, cancellable,
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


/* ---- rendering without sending ------------------------------------------------ */

/* Whether a header carries a credential: by its name, or because its
 * value holds one of the target's secrets (an extra header's). */
static gboolean
is_secret_header (SluiceHttpProviderPrivate *priv,
                  const char                *name,
                  const char                *value)
{
  static const char * const secret_words[] = { "authorization", "key", "token", "secret", "cookie", NULL };
  g_autofree char *lower = g_ascii_strdown (name, -1);

  for (guint i = 0; secret_words[i] != NULL; i++)
    if (strstr (lower, secret_words[i]) != NULL)
      return TRUE;
  for (guint i = 0; priv->secrets != NULL && i < priv->secrets->len; i++)
    if (strstr (value, g_ptr_array_index (priv->secrets, i)) != NULL)
      return TRUE;
  return FALSE;
}

typedef struct {
  JsonObject                *headers;
  SluiceHttpProviderPrivate *priv;
} HeaderWalk;

static void
add_header (const char *name,
            const char *value,
            gpointer    user_data)
{
  HeaderWalk *walk = user_data;

  json_object_set_string_member (walk->headers, name,
                                 is_secret_header (walk->priv, name, value) ? "[secret]" : value);
}

/* @node with each of the target's secrets replaced where it stands. Not
 * the word-wise scrub of provider messages (which also takes out words
 * holding half a key, or asterisks): a snapshot's body is the prompt, and
 * must stay the prompt. */
static JsonNode *
scrub_node (SluiceHttpProviderPrivate *priv,
            JsonNode                  *node)
{
  g_autofree char *text = sluice_json_to_string (node);
  g_autoptr(GString) scrubbed = g_string_new (text);
  guint replaced = 0;
  JsonNode *parsed;

  for (guint i = 0; priv->secrets != NULL && i < priv->secrets->len; i++)
    if (strlen (g_ptr_array_index (priv->secrets, i)) >= 8)
      replaced += g_string_replace (scrubbed, g_ptr_array_index (priv->secrets, i), "[redacted]", 0);
  if (replaced == 0)
    return json_node_ref (node);
  parsed = sluice_json_from_string (scrubbed->str, (gssize) scrubbed->len, NULL);
  return parsed != NULL ? parsed : json_node_init_string (json_node_alloc (), "[redacted]");
}

static JsonObject *
sluice_http_provider_render_request (SluiceProvider  *provider,
                                     SluiceContext   *context,
                                     GError         **error)
{
  SluiceHttpProvider *self = SLUICE_HTTP_PROVIDER (provider);
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (self);
  SluiceHttpProviderPrivate *priv = PRIV (self);
  g_autoptr(SoupMessage) message = NULL;
  g_autofree char *url = NULL;
  JsonNode *body;
  JsonObject *request;
  HeaderWalk walk;

  message = klass->build_message (self, context, priv->stream, error);
  if (message == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST,
                     "cannot build a request for the base_url of host %s", priv->host);
      return NULL;
    }

  request = json_object_new ();
  json_object_set_string_member (request, "method", soup_message_get_method (message));
  url = g_uri_to_string_partial (soup_message_get_uri (message), G_URI_HIDE_PASSWORD);
  {
    g_autofree char *scrubbed = sluice_http_provider_scrub (priv, url);

    json_object_set_string_member (request, "url", scrubbed);
  }
  /* where the path starts: the snapshot shows the path alone */
  json_object_set_string_member (request, "base_url", priv->base_url);
  walk.headers = json_object_new ();
  walk.priv = priv;
  soup_message_headers_foreach (soup_message_get_request_headers (message), add_header, &walk);
  json_object_set_object_member (request, "headers", walk.headers);
  body = g_object_get_data (G_OBJECT (message), "sluice-request-body");
  if (body != NULL)
    json_object_set_member (request, "body", scrub_node (priv, body));
  return request;
}

static void
provider_iface_init (SluiceProviderInterface *iface)
{
  iface->configure = sluice_http_provider_configure;
  iface->send_async = sluice_http_provider_send_async;
  iface->send_finish = sluice_http_provider_send_finish;
  iface->render_request = sluice_http_provider_render_request;
}
