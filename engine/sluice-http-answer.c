/* sluice-http-answer.c — turning one HTTP exchange into a SluiceResponse.
 *
 * Whatever the server did, the answer or one error kind with a message
 * that names the host and quotes at most a scrubbed excerpt of the body.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-http-provider"

#include "sluice-http-provider-private.h"

#include <string.h>

#define PRIV(self) sluice_http_provider_get_private (self)

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
      const char *model = PRIV (attempt->provider)->model;
      SluiceTokenizer *tokenizer = sluice_tokenizer_get_for_model (NULL, model);
      const char *text = sluice_response_get_text (response);

      if (prompt < 0)
        prompt = sluice_count_prompt_tokens (sluice_context_get_messages (attempt->context), NULL, model, 0, NULL);
      if (completion < 0)
        completion = tokenizer != NULL && text != NULL
          ? sluice_tokenizer_count (tokenizer, text, -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL)
          : sluice_estimate_tokens (text);
      sluice_response_set_usage (response, prompt, completion,
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
  /* No Retry-After: the reset the rate-limit headers name, which
   * sluice_http_answer_read_head() has read. */
  if (retry_after < 0 && (status == 429 || code == SLUICE_ERROR_RATE_LIMITED))
    retry_after = sluice_response_get_ratelimit_reset_ms (attempt->response);
  sluice_response_set_retry_after_ms (attempt->response, retry_after);
  /* The id support asks for: Anthropic's error bodies carry it too. */
  if (sluice_response_get_request_id (attempt->response) == NULL && root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    sluice_response_set_request_id (attempt->response,
                                    sluice_json_get_string (json_node_get_object (root), "request_id"));

  if (provider_message != NULL && *provider_message != '\0')
    message = sluice_http_provider_quote (priv, provider_message, -1, MAX_EXCERPT_CHARS);
  else if (status >= 300 && status < 400)
    message = g_strdup ("a redirect; check base_url");
  else
    {
      g_autofree char *type = sluice_http_describe_content_type (headers);

      message = g_strdup_printf ("an error from %s (%s)", priv->host, type);
    }
  sluice_http_provider_take_error (attempt->response, code, message);
}

/* A whole body: the answer, or an error. */
void
sluice_http_answer_read_body (SluiceHttpStream *attempt,
           GBytes           *bytes)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SoupMessageHeaders *headers = soup_message_get_response_headers (attempt->message);
  guint status = soup_message_get_status (attempt->message);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) json_error = NULL;

  if (data != NULL && len > 0)
    root = sluice_json_from_string (data, (gssize) len, &json_error);

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      read_error_answer (attempt, status, headers, root);
      return;
    }
  if (root == NULL)
    {
      g_autofree char *quote = sluice_http_provider_quote (PRIV (attempt->provider), data, (gssize) len,
                                                           MAX_BODY_EXCERPT_CHARS);
      g_autofree char *type = sluice_http_describe_content_type (headers);
      /* JSON that sluice refuses rather than changes (a number beyond 64
       * bits, a NUL character): the reason, which names no secret */
      g_autofree char *why = g_error_matches (json_error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA)
        ? g_strdup_printf (" (%s)", json_error->message) : NULL;

      sluice_http_provider_take_error (attempt->response, SLUICE_ERROR_MALFORMED,
                                       g_strdup_printf ("an unparseable body from %s (%s, %" G_GSIZE_FORMAT
                                                        " bytes)%s%s%s%s",
                                                        PRIV (attempt->provider)->host, type, len,
                                                        why ?: "",
                                                        *quote != '\0' ? ": \"" : "", quote,
                                                        *quote != '\0' ? "\"" : ""));
      return;
    }
  klass->parse_body (attempt->provider, attempt->response, root);
  finish_answer (attempt);
}

/* The end of an event stream: whole, failed, or cut. */
void
sluice_http_answer_read_stream_end (SluiceHttpStream *attempt)
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
      g_autofree char *quote = sluice_http_provider_quote (PRIV (attempt->provider), stray, -1, MAX_BODY_EXCERPT_CHARS);

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

void
sluice_http_answer_transport_failure (SluiceHttpStream *attempt,
                   const GError     *error)
{
  SluiceHttpProviderPrivate *priv = PRIV (attempt->provider);
  SluiceResponse *response = attempt->response;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE))
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_MALFORMED,
                                                       "the answer from %s was too large: %s",
                                                       priv->host, error->message));
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) && attempt->n_events == 0)
    sluice_response_take_error (response, g_error_new (SLUICE_ERROR, SLUICE_ERROR_TIMEOUT,
                                                       "request to %s timed out: %s", priv->host, error->message));
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
void
sluice_http_answer_scrub (SluiceHttpStream *attempt)
{
  SluiceHttpProviderPrivate *priv = PRIV (attempt->provider);
  SluiceResponse *response = attempt->response;
  const GError *error = sluice_response_get_error (response);
  g_autofree char *model = NULL;
  g_autofree char *request_id = NULL;

  /* One short line each: they reach records, ledgers and terminals. */
  if (sluice_response_get_model (response) != NULL)
    {
      model = sluice_http_provider_quote (priv, sluice_response_get_model (response), -1, MAX_NAME_CHARS);
      sluice_response_set_model (response, model);
    }
  if (sluice_response_get_request_id (response) != NULL)
    {
      request_id = sluice_http_provider_quote (priv, sluice_response_get_request_id (response), -1,
                                               MAX_NAME_CHARS);
      sluice_response_set_request_id (response, request_id);
    }
  if (error != NULL)
    {
      g_autofree char *message = sluice_http_provider_scrub (priv, error->message);

      if (!g_str_equal (message, error->message))
        sluice_response_take_error (response, g_error_new_literal (error->domain, error->code, message));
    }
}

/* Status, Retry-After, the rate-limit headers and the request id: known
 * before the body is. */
void
sluice_http_answer_read_head (SluiceHttpStream *attempt)
{
  SluiceHttpProviderClass *klass = SLUICE_HTTP_PROVIDER_GET_CLASS (attempt->provider);
  SoupMessageHeaders *headers = soup_message_get_response_headers (attempt->message);
  const char *id = klass->request_id_header != NULL
    ? soup_message_headers_get_one (headers, klass->request_id_header) : NULL;
  gint64 requests, tokens, reset;

  sluice_response_set_http_status (attempt->response, soup_message_get_status (attempt->message));
  sluice_response_set_retry_after_ms (attempt->response, sluice_http_parse_retry_after (headers));
  sluice_http_parse_rate_limits (headers, &requests, &tokens, &reset);
  sluice_response_set_ratelimit_remaining_requests (attempt->response, requests);
  sluice_response_set_ratelimit_remaining_tokens (attempt->response, tokens);
  sluice_response_set_ratelimit_reset_ms (attempt->response, reset);
  if (id != NULL && *id != '\0')
    sluice_response_set_request_id (attempt->response, id);
}
