/* sluice-http.h — the shared HTTP session and header helpers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <libsoup/soup.h>

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
 * SLUICE_HTTP_MAX_BODY:
 *
 * The largest response body sluice reads (64 MB, after decompression).
 */
#define SLUICE_HTTP_MAX_BODY (64 << 20)

/**
 * sluice_http_send_and_read_async:
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
void         sluice_http_send_and_read_async  (SoupMessage         *message,
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

G_END_DECLS
