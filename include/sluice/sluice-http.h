/* sluice-http.h — the shared HTTP session and header helpers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <libsoup/soup.h>

#include "sluice-error.h"
#include "sluice-sse.h"

G_BEGIN_DECLS

/**
 * sluice_http_get_session:
 *
 * The process's one #SoupSession, for the main thread. It allows
 * `$SLUICE_MAX_CONNS` connections (default 1024, all of them to one host
 * if needed) and sets a 300 s socket timeout as a last resort; the `call`
 * stage enforces the real per-attempt timeouts by cancellation.
 *
 * Returns: (transfer none): the session
 */
SoupSession *sluice_http_get_session        (void);

/**
 * sluice_http_session_new:
 * @max_conns: connections in all; 0 for the default
 * @max_conns_per_host: connections to one host; 0 for the default
 *
 * A session as sluice uses them: explicit connection limits (libsoup's
 * own are 10 and 2), a socket timeout of last resort, kept-alive
 * connections closed after a minute idle. The defaults are 1024, or
 * `$SLUICE_MAX_CONNS` and `$SLUICE_MAX_CONNS_PER_HOST`.
 *
 * Returns: (transfer full): a new #SoupSession
 */
SoupSession *sluice_http_session_new        (guint max_conns,
                                             guint max_conns_per_host);

/**
 * SLUICE_HTTP_MAX_BODY:
 *
 * The largest response body sluice reads (64 MB, after decompression).
 */
#define SLUICE_HTTP_MAX_BODY (64 << 20)

/**
 * sluice_http_message_set_phase_timeouts:
 * @message: a request not sent yet
 * @connect_timeout_ms: longest wait for a connection, until the request's
 *   head is written (a full connection pool counts); 0 or less for none
 * @first_byte_timeout_ms: longest wait, from the start, for the first
 *   byte of the answer's body (of a stream: its first event); 0 or less
 *   for none
 *
 * Limits the phases of an exchange made with
 * sluice_http_send_and_read_async() or sluice_http_stream_async(); a
 * phase that runs out fails it with %G_IO_ERROR_TIMED_OUT, saying which.
 */
void         sluice_http_message_set_phase_timeouts (SoupMessage *message,
                                                     gint64       connect_timeout_ms,
                                                     gint64       first_byte_timeout_ms);

/**
 * sluice_http_send_and_read_async:
 * @session: (nullable): the session, or %NULL for sluice_http_get_session()
 * @message: the request
 * @max_bytes: the largest body accepted
 * @cancellable: (nullable): cancels the exchange
 * @callback: (scope async): called with the whole body
 * @user_data: (closure): data for @callback
 *
 * Like soup_session_send_and_read_async() on the shared session, but a
 * body larger than @max_bytes (an endless stream, a decompression bomb)
 * fails with %G_IO_ERROR_MESSAGE_TOO_LARGE instead of filling memory.
 */
void         sluice_http_send_and_read_async  (SoupSession         *session,
                                               SoupMessage         *message,
                                               gsize                max_bytes,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/**
 * sluice_http_send_and_read_finish:
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the body
 */
GBytes      *sluice_http_send_and_read_finish (GAsyncResult        *result,
                                               GError             **error);

/**
 * sluice_http_parse_retry_after:
 * @headers: response headers
 *
 * Reads `retry-after-ms`, then `Retry-After` (delta seconds or an
 * HTTP-date).
 *
 * Returns: the delay the server asked for in milliseconds, or -1
 */
gint64       sluice_http_parse_retry_after  (SoupMessageHeaders *headers);

/**
 * sluice_http_parse_rate_limits:
 * @headers: (nullable): response headers
 * @out_remaining_requests: (out): requests left, or -1
 * @out_remaining_tokens: (out): tokens left, or -1
 * @out_reset_ms: (out): milliseconds until the limit resets, or -1
 *
 * Reads the provider's rate-limit headers: OpenAI's (and compatible
 * servers') `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` (Go
 * durations such as `6m0s`), Anthropic's `anthropic-ratelimit-*-remaining`
 * and `-reset` (RFC 3339 times). The reset is that of an exhausted limit
 * (remaining 0), the latest of them; else the soonest.
 */
void         sluice_http_parse_rate_limits  (SoupMessageHeaders *headers,
                                             gint64             *out_remaining_requests,
                                             gint64             *out_remaining_tokens,
                                             gint64             *out_reset_ms);

/**
 * sluice_http_get_stream_session:
 *
 * The session streamed answers go through: a separate connection pool, so
 * that long streams cannot take every connection short calls need. Sized
 * like sluice_http_get_session().
 *
 * Returns: (transfer none): the shared streaming #SoupSession
 */
SoupSession *sluice_http_get_stream_session (void);

/**
 * sluice_http_stream_async:
 * @session: (nullable): the session, or %NULL for sluice_http_get_stream_session()
 * @message: the request
 * @parser: the parser the body is fed to when it is an event stream; it
 *   must stay alive until the callback ran
 * @max_bytes: the largest body accepted, events or not
 * @idle_timeout_ms: the longest silence accepted between the response
 *   headers and the first body bytes, and between two reads of the body;
 *   0 or less for none
 * @cancellable: (nullable): cancels the exchange; the connection is closed
 * @callback: (scope async): called when the body ended
 * @user_data: (closure): data for @callback
 *
 * Sends @message and, when the answer is a 2xx `text/event-stream`, feeds
 * its body to @parser as it arrives and finishes the parser at the end of
 * the body. Any other answer (an error body, or JSON where a stream was
 * asked for) is read whole, bounded by @max_bytes, and handed back by
 * sluice_http_stream_finish().
 */
void         sluice_http_stream_async       (SoupSession         *session,
                                             SoupMessage         *message,
                                             SluiceSseParser     *parser,
                                             gsize                max_bytes,
                                             gint64               idle_timeout_ms,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);

/**
 * sluice_http_stream_finish:
 * @result: the #GAsyncResult
 * @out_body: (out) (optional) (nullable) (transfer full): the whole body
 *   when the answer was not an event stream; %NULL when it was
 * @error: %G_IO_ERROR_TIMED_OUT after @idle_timeout_ms of silence,
 *   %G_IO_ERROR_MESSAGE_TOO_LARGE, %G_IO_ERROR_CANCELLED, the parser's
 *   error, or the transport's error (connection refused, reset, ...)
 *
 * Returns: %TRUE when the body was read to its end (or the parser's
 *   callback stopped it)
 */
gboolean     sluice_http_stream_finish      (GAsyncResult        *result,
                                             GBytes             **out_body,
                                             GError             **error);

/**
 * sluice_http_classify_status:
 * @status: an HTTP status that is not 2xx
 *
 * The error kind a status means when the body says nothing more: 429
 * rate_limited, 401/403 auth, 404 not_found, 408/504 timeout, 503/529
 * overloaded, other 5xx server, other 4xx (and 3xx) bad_request.
 * Providers refine this from the error body (context_overflow,
 * content_filter, quota).
 *
 * Returns: the #SluiceErrorCode
 */
SluiceErrorCode sluice_http_classify_status (guint status);

/**
 * sluice_http_describe_content_type:
 * @headers: response headers
 *
 * Returns: (transfer full): the content type as one line of at most 80
 *   characters, or "no content type"
 */
char        *sluice_http_describe_content_type (SoupMessageHeaders *headers);

G_END_DECLS
