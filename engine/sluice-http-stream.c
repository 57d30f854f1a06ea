/* sluice-http-stream.c — one attempt of an HTTP provider and, when
 * streamed, what its events delivered so far. Events go to the provider's
 * stream_event, which reports text, tool-call fragments, the finish reason
 * and the terminal event with the sluice_http_stream_*() functions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-http-provider"

#include "sluice-http-provider-private.h"

#include <string.h>

#define PRIV(self) sluice_http_provider_get_private (self)

static void
tool_call_free (ToolCall *call)
{
  g_free (call->id);
  g_free (call->name);
  g_string_free (call->arguments, TRUE);
  g_free (call);
}

SluiceHttpStream *
sluice_http_stream_new (SluiceHttpProvider *provider,
                        SluiceContext      *context)
{
  SluiceHttpStream *stream = g_new0 (SluiceHttpStream, 1);

  stream->provider = g_object_ref (provider);
  stream->context = g_object_ref (context);
  stream->response = sluice_response_new ();
  stream->text = g_string_new (NULL);
  stream->tool_calls = g_ptr_array_new_with_free_func ((GDestroyNotify) tool_call_free);
  return stream;
}

void
sluice_http_stream_free (SluiceHttpStream *stream)
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

const char *
sluice_http_stream_get_text (SluiceHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, NULL);
  return stream->text->str;
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

const char *
sluice_http_stream_get_finish_reason (SluiceHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, NULL);
  return stream->finish_reason;
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

GCancellable *
sluice_http_stream_start (SluiceHttpStream *stream,
                          GCancellable     *cancellable)
{
  stream->parser = sluice_sse_parser_new (MAX_EVENT_BYTES, on_event, stream);
  stream->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      stream->caller_cancellable = g_object_ref (cancellable);
      stream->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                                    stream->cancellable, NULL);
    }
  return stream->cancellable;
}
