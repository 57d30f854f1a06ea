/* mock-common.h: types shared by the files of sluice-mock
 *
 * sluice-mock is a stand-alone test tool: nothing here is part of libsluice.
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* What the server did with one request. The first MOCK_N_SERVE_KINDS are the
 * kinds a scenario step or the fault mix can pick; the rest are only
 * counted (they come from the request itself, not from a decision). */
typedef enum {
  MOCK_KIND_OK,
  MOCK_KIND_RATE_LIMIT,
  MOCK_KIND_SERVER_ERROR,
  MOCK_KIND_OVERLOADED,
  MOCK_KIND_HANG,
  MOCK_KIND_MALFORMED,
  MOCK_KIND_HTML,
  MOCK_KIND_BAD_ANSWER,
  MOCK_KIND_STATUS,
  /* stream faults: only when chosen with --fault-kinds or a scenario */
  MOCK_KIND_CUT,               /* the stream ends without its terminal event */
  MOCK_KIND_STALL,             /* the first events, then silence */
  MOCK_KIND_MALFORMED_CHUNK,   /* one event's data is not JSON */
  MOCK_KIND_NO_USAGE,          /* an answer without token usage */
  MOCK_N_SERVE_KINDS,
  MOCK_KIND_INVALID_REQUEST = MOCK_N_SERVE_KINDS,
  MOCK_KIND_UNAUTHORIZED,
  MOCK_KIND_NOT_FOUND,
  MOCK_N_KINDS
} MockKind;

/* The kinds the random fault mix picks from by default (no ok, no status,
 * no stream faults: adding kinds would change what a seed gives). */
#define MOCK_FAULT_KIND_LIST "rate_limit,server_error,overloaded,hang,malformed,html,bad_answer"
#define MOCK_STREAM_FAULT_KIND_LIST "cut,stall,malformed_chunk,no_usage"

const char *mock_kind_name      (MockKind    kind);
gboolean    mock_kind_from_name (const char *name,
                                 MockKind   *out_kind);

/* The four ways an answer can break the sentiment output schema. */
typedef enum {
  MOCK_BAD_LABEL,              /* sentiment "happy" */
  MOCK_BAD_CONFIDENCE,         /* confidence 1.7 */
  MOCK_BAD_MISSING_REASONING,  /* no "reasoning" member */
  MOCK_BAD_PROSE,              /* plain prose, no JSON at all */
  MOCK_N_BAD_VARIANTS
} MockBadVariant;

const char *mock_bad_variant_name      (MockBadVariant variant);
gboolean    mock_bad_variant_from_name (const char     *name,
                                        MockBadVariant *out_variant);

typedef enum {
  MOCK_LATENCY_FIXED,    /* a */
  MOCK_LATENCY_UNIFORM,  /* between a and b */
  MOCK_LATENCY_NORMAL,   /* mean a, standard deviation b, clamped at 0 */
} MockLatencyDist;

typedef struct {
  MockLatencyDist dist;
  gint64          a_us;
  gint64          b_us;
} MockLatency;

gboolean mock_parse_duration (const char  *text,
                              gint64      *out_us);
gboolean mock_parse_latency  (const char  *text,
                              MockLatency *out_latency,
                              GError     **error);
/* @r1 and @r2 are two independent 64-bit random words. */
gint64   mock_latency_draw   (const MockLatency *latency,
                              guint64            r1,
                              guint64            r2);

/* splitmix64: the one mixing function every random draw goes through. */
static inline guint64
mock_splitmix64 (guint64 *state)
{
  guint64 z = (*state += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* The splitmix64 finalizer: a full-avalanche hash of one 64-bit word. */
static inline guint64
mock_mix64 (guint64 z)
{
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static inline double
mock_unit (guint64 r)
{
  return (double) (r >> 11) * (1.0 / 9007199254740992.0);
}

/* One step of a scenario rule. Fields that do not apply to the kind stay at
 * their "absent" value (NULL or -1). */
typedef struct {
  MockKind       kind;
  gboolean       has_latency;
  MockLatency    latency;
  /* rate_limit */
  char          *retry_after;       /* Retry-After value, verbatim */
  gint64         retry_after_ms;    /* retry-after-ms header, -1 = none */
  /* status */
  guint          status;
  char          *body;              /* NULL = the format's error body */
  gsize          body_len;
  char          *content_type;
  char         **header_names;
  char         **header_values;
  guint          n_headers;
  gint64         chunk_bytes;       /* -1 = the body in one write */
  gint64         chunk_delay_us;    /* -1 = --chunk-delay */
  gint64         stall_after_bytes; /* -1 = send it all */
  /* ok */
  char          *content;           /* NULL = classify the request */
  gboolean       length_cut;        /* finish_reason "length": cut at the token limit */
  gint64         prompt_tokens;     /* -1 = computed */
  gint64         completion_tokens;
  gint64         total_tokens;
  /* bad_answer; -1 = picked from the request's random draw */
  gint           variant;
  /* hang; -1 = --hang */
  gint64         hang_us;
} MockStep;

typedef struct _MockScenario MockScenario;

/* On failure returns NULL and sets @error to a message naming the file and
 * listing every problem found, one per line. */
MockScenario   *mock_scenario_load (const char   *path,
                                    GError      **error);
/* The step for one request, advancing the matching rule; NULL when no rule
 * matches (the caller falls back to the fault mix). */
const MockStep *mock_scenario_pick (MockScenario *scenario,
                                    const char   *body,
                                    gsize         body_len);
void            mock_scenario_free (MockScenario *scenario);

/* Answers (mock-answer.c) */

void  mock_sentiment_init          (void);
void  mock_sentiment_shutdown      (void);

/* Appends @len bytes of @text as a quoted, escaped JSON string. */
void  mock_append_json_string      (GString    *out,
                                    const char *text,
                                    gsize       len);

/* Classifies @text and appends the assistant content: the sentiment JSON
 * object (or, for a bad answer, one of its broken forms). @variant < 0 means
 * a correct answer. */
void  mock_append_sentiment_answer (GString    *out,
                                    const char *text,
                                    gsize       len,
                                    gint        variant);

static inline gint64
mock_tokens_for_bytes (gsize n_bytes)
{
  return (gint64) ((n_bytes + 3) / 4);
}

/* One JSON line per request to --log (sluice-mock.c). */
void  mock_log_request             (const char *path,
                                    MockKind    kind,
                                    guint       status,
                                    gint64      start_us,
                                    gint64      now_us);

/* Timers (mock-timer.c): one heap of deadlines behind one timerfd source,
 * shared by deferred answers and paced streams. Embed a MockTimer in the
 * object it wakes. */

typedef struct _MockTimer MockTimer;
typedef void (*MockTimerFunc) (MockTimer *timer);

struct _MockTimer {
  gint64        deadline_us;       /* monotonic */
  guint         heap_index;        /* G_MAXUINT when not scheduled */
  MockTimerFunc fire;
};

void       mock_timers_init     (void);
void       mock_timers_shutdown (void);
void       mock_timer_init      (MockTimer    *timer,
                                 MockTimerFunc fire);
/* Unscheduled when it fires: @fire may schedule it again. */
void       mock_timer_schedule  (MockTimer    *timer,
                                 gint64        deadline_us);
void       mock_timer_cancel    (MockTimer    *timer);

/* Client sockets (mock-socket.c) */

/* A deferred answer or stall at least this long watches its socket, so a
 * client that gives up is noticed before the deadline. */
#define MOCK_WATCH_THRESHOLD_US (500 * G_TIME_SPAN_MILLISECOND)

typedef void (*MockGoneFunc) (gpointer data);

void     mock_sockets_init      (void);
/* Remembers @socket; TRUE the first time it is seen: a new connection. */
gboolean mock_sockets_track     (GSocket     *socket);
guint64  mock_sockets_accepted  (void);
/* A busy socket has an answer of ours pending: the sweep leaves it alone. */
void     mock_socket_mark_busy  (GSocket     *socket,
                                 gint         delta);
void     mock_sockets_sweep     (gboolean     shutting_down);
void     mock_sockets_shutdown  (void);
/* A source that calls @gone once the client has closed @socket. It stops
 * watching (without calling @gone) when the client sends another request
 * instead. The caller owns the returned source. */
GSource *mock_socket_watch      (GSocket     *socket,
                                 MockGoneFunc gone,
                                 gpointer     data);

/* Deferred answers (mock-pending.c) */

/* Holds @msg, whose response is set, until @delay_us after @start_us; a
 * hang then drops the connection instead of answering. @path must outlive
 * the mock (static or interned). */
void     mock_pending_start     (SoupServerMessage *msg,
                                 const char        *path,
                                 MockKind           kind,
                                 guint              status,
                                 gint64             start_us,
                                 gint64             delay_us);
guint    mock_pending_count     (void);
/* Drops every held message, so libsoup never disposes of a paused one. */
void     mock_pending_shutdown  (void);

/* Streams (mock-stream.c): a body written in pieces, chunked. */

/* Sends @pieces (GBytes) as separate chunks of @msg's body: the first at
 * @first_at_us, then one every @piece_delay_us (0: all at once). Then ends
 * the body or, with @stall, keeps the connection open with nothing more to
 * say until the client leaves or the mock stops. Takes @pieces. The status
 * and headers must be set; @path must outlive the mock (static or
 * interned). */
void     mock_stream_start      (SoupServerMessage *msg,
                                 GPtrArray         *pieces,
                                 gboolean           stall,
                                 gint64             first_at_us,
                                 gint64             piece_delay_us,
                                 const char        *path,
                                 MockKind           kind,
                                 gint64             start_us);
guint    mock_streams_active    (void);
guint64  mock_streams_started   (void);
void     mock_streams_close_all (void);

G_END_DECLS
