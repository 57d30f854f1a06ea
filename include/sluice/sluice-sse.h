/* sluice-sse.h — an incremental parser of text/event-stream bodies.
 *
 * Every streaming provider speaks Server-Sent Events. The parser follows
 * the WHATWG EventSource rules: events split across reads at any byte,
 * `\n`, `\r\n` and `\r` line ends, several `data:` lines joined by "\n",
 * `:` comments ignored, a leading byte-order mark skipped. Two departures,
 * both because real recorded streams need them: at the end of the stream a
 * last line without its line break and a last event without its blank
 * line are still dispatched (the stream's own terminal event tells the
 * provider whether it was complete); and lines that are not fields (a
 * bare JSON error object after the events, as Gemini sends) are kept as
 * "stray text" for the provider to read.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * SluiceSseEventFunc:
 * @event: the event type; "message" when the stream named none
 * @data: the event's data lines joined by "\n", NUL-terminated
 * @data_len: the length of @data in bytes
 * @user_data: the data given to sluice_sse_parser_new()
 *
 * Called once for each event, in stream order.
 *
 * Returns: %TRUE to go on, %FALSE to stop parsing
 */
typedef gboolean (*SluiceSseEventFunc) (const char *event,
                                        const char *data,
                                        gsize       data_len,
                                        gpointer    user_data);

typedef struct _SluiceSseParser SluiceSseParser;

/**
 * sluice_sse_parser_new:
 * @max_event_bytes: the largest event (and the largest line) accepted
 * @func: (scope notified): called for each event
 * @user_data: passed to @func
 *
 * Returns: (transfer full): a new parser
 */
SluiceSseParser *sluice_sse_parser_new            (gsize               max_event_bytes,
                                                   SluiceSseEventFunc  func,
                                                   gpointer            user_data);
void             sluice_sse_parser_free           (SluiceSseParser    *self);

/**
 * sluice_sse_parser_feed:
 * @self: a parser
 * @data: (array length=len): the next bytes of the body, split anywhere
 * @len: the length of @data
 * @error: set with %G_IO_ERROR_MESSAGE_TOO_LARGE when an event or a line
 *   is larger than the parser accepts
 *
 * Returns: %FALSE when @func asked to stop (without @error) or on error
 */
gboolean         sluice_sse_parser_feed           (SluiceSseParser    *self,
                                                   const char         *data,
                                                   gsize               len,
                                                   GError            **error);

/**
 * sluice_sse_parser_finish:
 * @self: a parser
 * @error: as for sluice_sse_parser_feed()
 *
 * Ends the stream: a pending last line and event are dispatched.
 *
 * Returns: as sluice_sse_parser_feed()
 */
gboolean         sluice_sse_parser_finish         (SluiceSseParser    *self,
                                                   GError            **error);

/**
 * sluice_sse_parser_get_n_events:
 *
 * Returns: how many events were dispatched so far
 */
guint64          sluice_sse_parser_get_n_events   (SluiceSseParser    *self);

/**
 * sluice_sse_parser_get_stray_text:
 *
 * Returns: (nullable): the lines that were neither fields nor comments,
 *   each followed by "\n", capped at 64 KiB; %NULL when there were none
 */
const char      *sluice_sse_parser_get_stray_text (SluiceSseParser    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceSseParser, sluice_sse_parser_free)

G_END_DECLS
