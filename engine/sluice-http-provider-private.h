/* sluice-http-provider-private.h — what the three files of the HTTP
 * provider base class share: the provider's configuration
 * (sluice-http-provider.c), one attempt and its stream
 * (sluice-http-stream.c), and turning an exchange into a response
 * (sluice-http-answer.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

#define DEFAULT_IDLE_TIMEOUT_MS (30 * 1000)
/* The most of a body or of a provider's message an error message quotes. */
#define MAX_EXCERPT_CHARS 400
#define MAX_BODY_EXCERPT_CHARS 120
/* The most of a served model name or a request id kept. */
#define MAX_NAME_CHARS 200
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
  gint64      connect_timeout_ms;      /* 0: none */
  gint64      first_byte_timeout_ms;   /* 0: none */
  gsize       max_response_bytes;
  JsonObject *output_schema;
  SluiceEngine *engine;        /* weak: whose sessions carry the requests */
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

SluiceHttpProviderPrivate *sluice_http_provider_get_private (SluiceHttpProvider *self);
/* Set by sluice_engine_create(): requests go through the engine's sessions
 * (without an engine, through the process-wide ones). */
void              sluice_http_provider_set_engine   (SluiceHttpProvider *self,
                                                     SluiceEngine       *engine);
/* Text with every secret of the target replaced. */
char             *sluice_http_provider_scrub        (SluiceHttpProviderPrivate *priv,
                                                     const char                *text);
/* A one-line excerpt of at most max_chars characters, scrubbed. */
char             *sluice_http_provider_quote        (SluiceHttpProviderPrivate *priv,
                                                     const char                *text,
                                                     gssize                     len,
                                                     guint                      max_chars);

SluiceHttpStream *sluice_http_stream_new            (SluiceHttpProvider *provider,
                                                     SluiceContext      *context);
void              sluice_http_stream_free           (SluiceHttpStream   *stream);
/* Streams from now on: events reach the provider's stream_event; the
 * exchange is cancelled by @cancellable or a second after the terminal
 * event. Returns the cancellable the exchange must use. */
GCancellable     *sluice_http_stream_start          (SluiceHttpStream   *stream,
                                                     GCancellable       *cancellable);

void              sluice_http_answer_read_head      (SluiceHttpStream   *attempt);
void              sluice_http_answer_read_body      (SluiceHttpStream   *attempt,
                                                     GBytes             *bytes);
void              sluice_http_answer_read_stream_end (SluiceHttpStream  *attempt);
void              sluice_http_answer_transport_failure (SluiceHttpStream *attempt,
                                                     const GError       *error);
void              sluice_http_answer_scrub          (SluiceHttpStream   *attempt);

G_END_DECLS
