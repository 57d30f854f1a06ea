/* sluice-http-provider.h — the base class of providers that speak JSON
 * over HTTP, streamed or not.
 *
 * A subclass knows one wire format: how to build the request, how to read
 * a JSON answer, an error body and one stream event. The base class does
 * everything that must behave the same for every provider: the common
 * target members, the HTTP exchange on the shared sessions, the body size
 * cap, the idle timeout between stream chunks, time to first token,
 * cancellation that closes the connection, a stream cut before its
 * terminal event (`truncated`), unparseable bodies (`malformed`, with a
 * short excerpt), the error kind of a status, Retry-After, and keeping
 * the API key out of every message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <libsoup/soup.h>

#include "sluice-context.h"
#include "sluice-error.h"
#include "sluice-provider.h"
#include "sluice-response.h"

G_BEGIN_DECLS

/**
 * SluiceHttpStream:
 *
 * One streamed answer being read: what the events delivered so far. Only
 * valid during the stream_event and stream_end calls.
 */
typedef struct _SluiceHttpStream SluiceHttpStream;

#define SLUICE_TYPE_HTTP_PROVIDER (sluice_http_provider_get_type ())
G_DECLARE_DERIVABLE_TYPE (SluiceHttpProvider, sluice_http_provider, SLUICE, HTTP_PROVIDER, GObject)

/**
 * SluiceHttpProviderClass:
 * @default_base_url: used when the target has no `base_url`
 * @api_key_required: whether a target without `api_key` is refused
 * @api_key_example: shown when the key is missing, e.g. `${OPENAI_API_KEY}`
 * @request_id_header: (nullable): the response header holding the
 *   provider's request id
 * @configure: reads the provider's own target members; the common ones
 *   (`model`, `base_url`, `api_key`, `extra_headers`, `stream`,
 *   `idle_timeout`, `output_schema`) are read already. May be %NULL.
 * @build_message: builds the request of one attempt with
 *   sluice_http_provider_new_message() and adds the key. @stream says
 *   whether to ask for an event stream. Returns %NULL with a
 *   %SLUICE_ERROR_BAD_REQUEST error when @context cannot be sent.
 * @parse_body: fills @response from the parsed JSON body of a 2xx answer:
 *   text or tool calls, finish reason, usage, model, request id; or sets
 *   an error (a 200 with an error object, a missing member: malformed).
 * @classify_error: reads the error body of a non-2xx answer. Returns the
 *   error kind (@default_code is the kind of the status alone), and may
 *   set @out_message to the provider's own message and @inout_retry_after_ms
 *   to a delay the body asks for. @root is %NULL when the body is not JSON.
 * @stream_event: reads one event of a streamed answer and reports it with
 *   the sluice_http_stream_*() functions. Returns %FALSE to stop reading.
 * @stream_end: (nullable): called when the stream ended without
 *   sluice_http_stream_set_complete() (or _set_ended()) or
 *   sluice_http_stream_fail(), with
 *   the stream's stray text (see sluice_sse_parser_get_stray_text()), so
 *   that a provider that appends a bare error object can report it.
 */
struct _SluiceHttpProviderClass
{
  GObjectClass parent_class;

  const char *default_base_url;
  gboolean    api_key_required;
  const char *api_key_example;
  const char *request_id_header;

  gboolean         (*configure)      (SluiceHttpProvider  *self,
                                      JsonObject          *target,
                                      GError             **error);
  SoupMessage     *(*build_message)  (SluiceHttpProvider  *self,
                                      SluiceContext       *context,
                                      gboolean             stream,
                                      GError             **error);
  void             (*parse_body)     (SluiceHttpProvider  *self,
                                      SluiceResponse      *response,
                                      JsonNode            *root);
  SluiceErrorCode  (*classify_error) (SluiceHttpProvider  *self,
                                      guint                status,
                                      SoupMessageHeaders  *headers,
                                      JsonNode            *root,
                                      SluiceErrorCode      default_code,
                                      char               **out_message,
                                      gint64              *inout_retry_after_ms);
  gboolean         (*stream_event)   (SluiceHttpProvider  *self,
                                      SluiceHttpStream    *stream,
                                      const char          *event,
                                      const char          *data,
                                      gsize                data_len);
  void             (*stream_end)     (SluiceHttpProvider  *self,
                                      SluiceHttpStream    *stream,
                                      const char          *stray_text);

  /*< private >*/
  gpointer padding[8];
};

/* ---- for subclasses: the common target members --------------------------- */

const char  *sluice_http_provider_get_model         (SluiceHttpProvider *self);
/* base_url without a trailing slash */
const char  *sluice_http_provider_get_base_url      (SluiceHttpProvider *self);
/* the host of base_url: what messages name, never the whole URL */
const char  *sluice_http_provider_get_host          (SluiceHttpProvider *self);
/* (nullable): never to be logged or put in a message */
const char  *sluice_http_provider_get_api_key       (SluiceHttpProvider *self);
/* (nullable): the JSON Schema the answer must follow, when the call stage
 * asks for the provider's native structured output */
JsonObject  *sluice_http_provider_get_output_schema (SluiceHttpProvider *self);
gboolean     sluice_http_provider_get_stream        (SluiceHttpProvider *self);

/**
 * sluice_http_provider_new_message:
 * @self: a provider
 * @path: appended to base_url, e.g. "/chat/completions"; may hold a query
 * @body: the JSON request body
 *
 * A POST with @body, `Accept` set, the target's `extra_headers` applied,
 * redirects refused (they would carry the key to another host) and marked
 * idempotent so that libsoup reuses kept-alive connections.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL when the URL
 *   cannot be built
 */
SoupMessage *sluice_http_provider_new_message       (SluiceHttpProvider *self,
                                                     const char         *path,
                                                     JsonNode           *body);

/**
 * sluice_http_provider_excerpt:
 * @text: (nullable): provider text
 * @len: its length, or -1
 *
 * Returns: (transfer full): a one-line excerpt of at most 400 characters,
 *   the API key scrubbed; see sluice_text_excerpt()
 */
char        *sluice_http_provider_excerpt           (SluiceHttpProvider *self,
                                                     const char         *text,
                                                     gssize              len);

/**
 * sluice_http_provider_take_error:
 * @response: the response
 * @code: the error kind
 * @message: (transfer full): the message (already scrubbed)
 *
 * Sets the response's error, prefixed with the HTTP status when that is
 * not a 2xx one.
 */
void         sluice_http_provider_take_error        (SluiceResponse     *response,
                                                     SluiceErrorCode     code,
                                                     char               *message);

/* ---- for subclasses: a streamed answer ------------------------------------- */

/* (transfer none): the response being filled: usage, model, request id */
SluiceResponse *sluice_http_stream_get_response      (SluiceHttpStream *stream);
/* The answer text so far. */
const char     *sluice_http_stream_get_text          (SluiceHttpStream *stream);
/* Appends answer text; the first non-empty text sets the time to first token. */
void            sluice_http_stream_add_text          (SluiceHttpStream *stream,
                                                      const char       *text);
/**
 * sluice_http_stream_add_tool_call:
 * @index: the call's position in the answer (a new index starts a call)
 * @id: (nullable): the call's id, when this event carries it
 * @name: (nullable): the tool's name, when this event carries it
 * @arguments: (nullable): the next fragment of the arguments' JSON text
 */
void            sluice_http_stream_add_tool_call     (SluiceHttpStream *stream,
                                                      guint             index,
                                                      const char       *id,
                                                      const char       *name,
                                                      const char       *arguments);
/* (nullable): the finish reason set so far */
const char     *sluice_http_stream_get_finish_reason (SluiceHttpStream *stream);
/* stop, length, content_filter or tool_call */
void            sluice_http_stream_set_finish_reason (SluiceHttpStream *stream,
                                                      const char       *reason);
/* The answer is whole (a finish reason arrived), though later events may
 * still bring usage; a stream that then breaks or stalls keeps it. */
void            sluice_http_stream_set_complete      (SluiceHttpStream *stream);
/* The stream's terminal event ([DONE], message_stop) arrived: the answer
 * is whole and later events are ignored; a server that keeps the stream
 * open after it is dropped a second later. */
void            sluice_http_stream_set_ended         (SluiceHttpStream *stream);
/* An error inside the stream (an error event, a malformed chunk): the
 * answer fails with @code; @message (transfer full) is already scrubbed. */
void            sluice_http_stream_fail              (SluiceHttpStream *stream,
                                                      SluiceErrorCode   code,
                                                      char             *message);
/* How many tool calls the stream started so far (the next call's index). */
guint           sluice_http_stream_get_n_tool_calls  (SluiceHttpStream *stream);
/* How many events arrived so far. */
guint           sluice_http_stream_get_n_events      (SluiceHttpStream *stream);

/* ---- for subclasses: reading wire formats --------------------------------- */

/* The finish reasons of every provider, mapped: "stop" for anything
 * unknown, NULL for NULL. */
const char  *sluice_http_normalize_finish_reason    (const char *reason);

G_END_DECLS
