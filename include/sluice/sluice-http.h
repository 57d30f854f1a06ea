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
