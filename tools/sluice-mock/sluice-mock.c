/* sluice-mock: a mock LLM provider on loopback for sluice's tests, demo
 * and benchmarks, speaking three wire formats:
 *   OpenAI     POST /v1/chat/completions (and /chat/completions)
 *   Anthropic  POST /v1/messages
 *   Gemini     POST /v1beta/models/MODEL:generateContent
 *              POST /v1beta/models/MODEL:streamGenerateContent
 * each streamed (server-sent events) or not, with injected faults in the
 * format's own error shapes, plus GET /mock/stats.
 *
 * Single-threaded on purpose: one GMainContext serves every connection, so
 * the state below needs no locks and the per-request work stays small.
 * This file reads requests and decides what each gets; the formats live
 * in mock-openai.c, mock-anthropic.c and mock-gemini.c, the timing in
 * mock-timer.c, mock-pending.c and mock-stream.c.
 */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-provider.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib-unix.h>

#define EXIT_USAGE 2
#define SWEEP_INTERVAL_S 1
/* /mock/stats counts at most this many distinct paths; the rest go under
 * "(other)", so a scan of random URLs cannot grow the table. */
#define MAX_COUNTED_PATHS 256

static const char body_html[] =
  "<html>\r\n"
  "<head><title>502 Bad Gateway</title></head>\r\n"
  "<body>\r\n"
  "<center><h1>502 Bad Gateway</h1></center>\r\n"
  "<hr><center>nginx/1.22.1</center>\r\n"
  "</body>\r\n"
  "</html>\r\n";

/* State */

/* What a model endpoint does while it is down. */
typedef enum {
  OUTAGE_UNAVAILABLE,              /* the format's 503 (Anthropic 529) at once */
  OUTAGE_REFUSE,                   /* the connection dropped, no answer */
  OUTAGE_HANG,                     /* no answer until the window ends, then 503 */
} OutageKind;

typedef struct {
  gint64     start_us;             /* since listening */
  gint64     end_us;
  OutageKind kind;
} Outage;

typedef struct {
  guint64 *keys;
  guint32 *counts;
  gsize    capacity;               /* a power of two */
  gsize    length;
} BodyCounter;

static struct {
  /* configuration */
  gint64        seed;
  double        fault_rate;
  MockKind      fault_kinds[MOCK_N_SERVE_KINDS];
  guint         n_fault_kinds;
  MockLatency   latency;
  gint64        hang_us;
  gint64        chunk_delay_us;
  char         *require_key;
  MockScenario *scenario;
  GArray       *outages;           /* Outage, in command-line order */
  gint64        listening_us;
  FILE         *log;

  /* per-request helpers, reused */
  JsonParser   *parser;
  GString      *user_scratch;
  GString      *user_kept;
  GString      *content_scratch;
  GString      *log_scratch;
  GString      *error_scratch;
  GArray       *events;            /* MockEvent */
  BodyCounter   seen;
  GBytes       *last_request;      /* the body of the last POST, for GET /mock/last-request */

  /* counters */
  guint64       requests;
  guint64       outage_requests;
  guint64       by_kind[MOCK_N_KINDS];
  guint64       serial;
  GHashTable   *paths;             /* path -> guint64 count, both owned */

  /* --keep-requests: the last bodies, for GET /mock/requests */
  guint         keep_requests;
  GQueue        kept;              /* KeptRequest, oldest first */

  GMainLoop    *loop;
} mock;

typedef struct {
  const char *path;                /* static or interned */
  GBytes     *body;
} KeptRequest;

static void
kept_request_free (KeptRequest *kept)
{
  g_bytes_unref (kept->body);
  g_free (kept);
}

static void
keep_request (const char *path,
              GBytes     *body)
{
  KeptRequest *kept;

  if (mock.keep_requests == 0)
    return;
  if (mock.kept.length == mock.keep_requests)
    kept_request_free (g_queue_pop_head (&mock.kept));
  kept = g_new (KeptRequest, 1);
  kept->path = path;
  kept->body = g_bytes_ref (body);
  g_queue_push_tail (&mock.kept, kept);
}

/* Logging */

void
mock_log_request (const char *path,
                  MockKind    kind,
                  guint       status,
                  gint64      start_us,
                  gint64      now_us)
{
  gint64 elapsed = now_us - start_us;
  GString *line;

  if (mock.log == NULL)
    return;
  line = mock.log_scratch;
  g_string_truncate (line, 0);
  g_string_append_printf (line, "{\"t_ms\":%" G_GINT64_FORMAT ",\"path\":", now_us / 1000);
  mock_append_json_string (line, path, strlen (path));
  g_string_append_printf (line,
                          ",\"kind\":\"%s\",\"status\":%u,\"latency_ms\":%" G_GINT64_FORMAT
                          ".%03d}\n",
                          mock_kind_name (kind), status, elapsed / 1000, (int) (elapsed % 1000));
  fwrite (line->str, 1, line->len, mock.log);
}

/* Per-body counter: how often each body has been seen */

static void
body_counter_grow (BodyCounter *t)
{
  gsize old_capacity = t->capacity;
  guint64 *old_keys = t->keys;
  guint32 *old_counts = t->counts;

  t->capacity = old_capacity ? old_capacity * 2 : 4096;
  t->keys = g_new0 (guint64, t->capacity);
  t->counts = g_new0 (guint32, t->capacity);
  for (gsize i = 0; i < old_capacity; i++)
    {
      gsize mask = t->capacity - 1, j;

      if (old_keys[i] == 0)
        continue;
      j = (gsize) mock_mix64 (old_keys[i]) & mask;
      while (t->keys[j] != 0)
        j = (j + 1) & mask;
      t->keys[j] = old_keys[i];
      t->counts[j] = old_counts[i];
    }
  g_free (old_keys);
  g_free (old_counts);
}

/* Returns how many times @hash was seen before, and counts this sighting. */
static guint32
body_counter_bump (BodyCounter *t,
                   guint64      hash)
{
  gsize mask, i;

  if (hash == 0)
    hash = 1;   /* 0 marks an empty slot */
  if ((t->length + 1) * 2 > t->capacity)
    body_counter_grow (t);
  mask = t->capacity - 1;
  i = (gsize) mock_mix64 (hash) & mask;
  while (t->keys[i] != 0 && t->keys[i] != hash)
    i = (i + 1) & mask;
  if (t->keys[i] == 0)
    {
      t->keys[i] = hash;
      t->length++;
    }
  return t->counts[i]++;
}

static guint64
hash_bytes (const char *data,
            gsize       len)
{
  guint64 h = G_GUINT64_CONSTANT (0xcbf29ce484222325);   /* FNV-1a */

  for (gsize i = 0; i < len; i++)
    {
      h ^= (guchar) data[i];
      h *= G_GUINT64_CONSTANT (0x100000001b3);
    }
  return h;
}

/* The random state for one request: a function of the seed, the body and
 * how many times this body came before, never of arrival order. */
static guint64
request_random_state (const char *body,
                      gsize       len)
{
  guint64 h = hash_bytes (body, len);
  guint32 seen = body_counter_bump (&mock.seen, h);

  return mock_mix64 (mock_mix64 (h ^ mock_mix64 ((guint64) mock.seed)) ^
                     ((guint64) seen + 1) * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));
}

/* Responses */

static void
respond_string (SoupServerMessage *msg,
                guint              status,
                const char        *content_type,
                GString           *body)
{
  gsize len = body->len;

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE,
                                    g_string_free (body, FALSE), len);
}

/* An error in @provider's format; @status 0 is the format's usual status
 * for @error. Returns the status. */
static guint
respond_error (SoupServerMessage  *msg,
               const MockProvider *provider,
               MockError           error,
               guint               status,
               const char         *message,
               gint64              retry_ms)
{
  GString *body = g_string_sized_new (256);

  if (status == 0)
    status = provider->error_status (error);
  provider->append_error (body, error, status, message, mock.serial, retry_ms);
  respond_string (msg, status, "application/json", body);
  return status;
}

static void
count_path (const char *path)
{
  guint64 *count = g_hash_table_lookup (mock.paths, path);

  if (count == NULL && g_hash_table_size (mock.paths) >= MAX_COUNTED_PATHS)
    {
      path = "(other)";
      count = g_hash_table_lookup (mock.paths, path);
    }
  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (mock.paths, g_strdup (path), count);
    }
  (*count)++;
}

static void
serve_stats (SoupServerMessage *msg)
{
  GString *body = g_string_sized_new (1024);
  GHashTableIter iter;
  gpointer key, value;
  gboolean first = TRUE;

  g_string_append_printf (body, "{\"requests\":%" G_GUINT64_FORMAT ",\"by_kind\":{",
                          mock.requests);
  for (guint i = 0; i < MOCK_N_KINDS; i++)
    g_string_append_printf (body, "%s\"%s\":%" G_GUINT64_FORMAT, i > 0 ? "," : "",
                            mock_kind_name ((MockKind) i), mock.by_kind[i]);
  g_string_append_printf (body, "},\"outage\":%" G_GUINT64_FORMAT, mock.outage_requests);
  g_string_append_printf (body, ",\"in_flight\":%u,\"connections\":%" G_GUINT64_FORMAT
                                ",\"streams\":%" G_GUINT64_FORMAT ",\"paths\":{",
                          mock_pending_count () + mock_streams_active (),
                          mock_sockets_accepted (), mock_streams_started ());
  g_hash_table_iter_init (&iter, mock.paths);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      if (!first)
        g_string_append_c (body, ',');
      first = FALSE;
      mock_append_json_string (body, key, strlen (key));
      g_string_append_printf (body, ":%" G_GUINT64_FORMAT, *(guint64 *) value);
    }
  g_string_append (body, "}}");
  respond_string (msg, SOUP_STATUS_OK, "application/json", body);
}

/* GET /mock/requests: {"requests": [{"path": P, "body": TEXT}, ...]}, the
 * last --keep-requests model requests, oldest first; a body that is not
 * UTF-8 is made valid. */
static void
serve_kept_requests (SoupServerMessage *msg)
{
  GString *body = g_string_new ("{\"requests\":[");

  for (GList *l = mock.kept.head; l != NULL; l = l->next)
    {
      KeptRequest *kept = l->data;
      gsize len;
      const char *data = g_bytes_get_data (kept->body, &len);
      g_autofree char *valid = g_utf8_make_valid (data != NULL ? data : "", (gssize) len);

      g_string_append (body, l == mock.kept.head ? "{\"path\":" : ",{\"path\":");
      mock_append_json_string (body, kept->path, strlen (kept->path));
      g_string_append (body, ",\"body\":");
      mock_append_json_string (body, valid, strlen (valid));
      g_string_append_c (body, '}');
    }
  g_string_append (body, "]}");
  respond_string (msg, SOUP_STATUS_OK, "application/json", body);
}

/* Answers */

static MockKind
pick_kind (const MockStep *step,
           guint64        *state)
{
  guint64 r_fault = mock_splitmix64 (state);
  guint64 r_kind = mock_splitmix64 (state);

  if (step != NULL)
    return step->kind;
  if (mock.fault_rate > 0 && mock_unit (r_fault) < mock.fault_rate)
    return mock.fault_kinds[r_kind % mock.n_fault_kinds];
  return MOCK_KIND_OK;
}

/* The answer to @req: a scenario's content or the sentiment of the user
 * text, which lives in mock.content_scratch until the next request. */
static void
build_answer (MockAnswer        *answer,
              const MockRequest *req,
              const MockStep    *step,
              gint               bad_variant,
              gboolean           with_usage)
{
  if (step != NULL && step->content != NULL)
    {
      answer->content = step->content;
      answer->content_len = strlen (step->content);
    }
  else
    {
      g_string_truncate (mock.content_scratch, 0);
      mock_append_sentiment_answer (mock.content_scratch, req->user_text, req->user_len,
                                    bad_variant);
      answer->content = mock.content_scratch->str;
      answer->content_len = mock.content_scratch->len;
    }
  answer->serial = mock.serial;
  answer->with_usage = with_usage;
  answer->length_cut = step != NULL && step->length_cut;
  answer->prompt_tokens = step != NULL && step->prompt_tokens >= 0 ? step->prompt_tokens
                                                                  : req->prompt_tokens;
  answer->completion_tokens = step != NULL && step->completion_tokens >= 0
                              ? step->completion_tokens
                              : mock_tokens_for_bytes (answer->content_len);
  answer->total_tokens = step != NULL && step->total_tokens >= 0
                         ? step->total_tokens
                         : answer->prompt_tokens + answer->completion_tokens;
}

static GPtrArray *
pieces_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

/* Answers the request with a body: an event stream when it asked for one,
 * or a JSON object, broken the way @kind says. Returns TRUE when the
 * answer went to a stream, which then times and logs itself. */
static gboolean
serve_answer (SoupServerMessage  *msg,
              const MockProvider *provider,
              const MockRequest  *req,
              const MockStep     *step,
              MockKind            kind,
              gint                bad_variant,
              const char         *path,
              gint64              start_us,
              gint64              delay_us)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  MockAnswer answer;
  GPtrArray *pieces;
  GString *body;
  gboolean stall = FALSE;

  build_answer (&answer, req, kind == MOCK_KIND_OK ? step : NULL, bad_variant,
                kind != MOCK_KIND_NO_USAGE);

  if (req->stream)
    {
      provider->append_events (mock.events, req, &answer);
      pieces = mock_events_to_pieces (mock.events, provider, kind, &stall);
      mock_events_clear (mock.events);
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_headers_replace (headers, "Content-Type", provider->stream_type);
      soup_message_headers_replace (headers, "Cache-Control", "no-cache");
      mock_stream_start (msg, pieces, stall, start_us + delay_us, mock.chunk_delay_us, path,
                         kind, start_us);
      return TRUE;
    }

  body = g_string_sized_new (answer.content_len * 2 + 400);
  provider->append_answer (body, req, &answer);
  switch (kind)
    {
    case MOCK_KIND_MALFORMED:
    case MOCK_KIND_MALFORMED_CHUNK:
      g_string_truncate (body, body->len / 2);
      break;

    case MOCK_KIND_CUT:
    case MOCK_KIND_STALL:
      /* A body that stops: half of it and then the end of the chunked
       * body, or the headers and then nothing. */
      pieces = pieces_new ();
      if (kind == MOCK_KIND_CUT)
        g_ptr_array_add (pieces, g_bytes_new (body->str, body->len / 2));
      g_string_free (body, TRUE);
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_headers_replace (headers, "Content-Type", "application/json");
      mock_stream_start (msg, pieces, kind == MOCK_KIND_STALL, start_us + delay_us,
                         mock.chunk_delay_us, path, kind, start_us);
      return TRUE;

    default:
      break;
    }
  respond_string (msg, SOUP_STATUS_OK, "application/json", body);
  return FALSE;
}

/* A scenario's "status" step: its body verbatim (or the format's error
 * for the status), in one piece or, with chunk_bytes, chunk_delay or
 * stall_after_bytes, in pieces. */
static gboolean
serve_status (SoupServerMessage  *msg,
              const MockProvider *provider,
              const MockStep     *step,
              const char         *path,
              gint64              start_us,
              gint64              delay_us)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  GString *body = g_string_sized_new (step->body != NULL ? step->body_len : 256);
  const char *content_type = step->content_type ? step->content_type : "application/json";
  GPtrArray *pieces;
  gsize limit, size;

  for (guint i = 0; i < step->n_headers; i++)
    soup_message_headers_replace (headers, step->header_names[i], step->header_values[i]);
  if (step->body != NULL)
    g_string_append_len (body, step->body, (gssize) step->body_len);
  else
    {
      g_autofree char *message = g_strdup_printf ("Mock status %u.", step->status);

      provider->append_error (body, MOCK_ERROR_STATUS, step->status, message, mock.serial, 1000);
    }

  if (step->chunk_bytes < 0 && step->chunk_delay_us < 0 && step->stall_after_bytes < 0)
    {
      respond_string (msg, step->status, content_type, body);
      return FALSE;
    }

  limit = step->stall_after_bytes >= 0 ? MIN (body->len, (gsize) step->stall_after_bytes)
                                       : body->len;
  size = step->chunk_bytes > 0 ? (gsize) step->chunk_bytes : MAX (limit, 1);
  pieces = pieces_new ();
  for (gsize at = 0; at < limit; at += size)
    g_ptr_array_add (pieces, g_bytes_new (body->str + at, MIN (size, limit - at)));
  g_string_free (body, TRUE);
  soup_server_message_set_status (msg, step->status, NULL);
  soup_message_headers_replace (headers, "Content-Type", content_type);
  mock_stream_start (msg, pieces, step->stall_after_bytes >= 0, start_us + delay_us,
                     step->chunk_delay_us >= 0 ? step->chunk_delay_us : mock.chunk_delay_us,
                     path, MOCK_KIND_STATUS, start_us);
  return TRUE;
}

static guint
serve_rate_limit (SoupServerMessage  *msg,
                  const MockProvider *provider,
                  const MockStep     *step)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  gint64 retry_ms = 1000;

  if (step != NULL && (step->retry_after != NULL || step->retry_after_ms >= 0))
    {
      /* What the scenario asks for, in every format. */
      if (step->retry_after != NULL)
        {
          guint64 seconds;

          soup_message_headers_replace (headers, "Retry-After", step->retry_after);
          if (g_ascii_string_to_unsigned (step->retry_after, 10, 0, G_MAXINT32, &seconds, NULL))
            retry_ms = (gint64) seconds * 1000;
        }
      if (step->retry_after_ms >= 0)
        {
          char value[32];

          g_snprintf (value, sizeof value, "%" G_GINT64_FORMAT, step->retry_after_ms);
          soup_message_headers_replace (headers, "retry-after-ms", value);
          retry_ms = step->retry_after_ms;
        }
    }
  else if (provider->retry_after)
    soup_message_headers_replace (headers, "Retry-After", "1");
  provider->set_rate_limit_headers (headers, retry_ms);
  return respond_error (msg, provider, MOCK_ERROR_RATE_LIMIT, 0, NULL, retry_ms);
}

/* START+DURATION[:KIND], appended to mock.outages. */
static gboolean
parse_outage (const char  *text,
              GError     **error)
{
  g_auto(GStrv) kind_split = g_strsplit (text, ":", 2);
  g_auto(GStrv) times = g_strsplit (kind_split[0], "+", -1);
  gint64 duration_us;
  Outage outage = { 0, };

  if (g_strv_length (times) != 2 || !mock_parse_duration (times[0], &outage.start_us) ||
      !mock_parse_duration (times[1], &duration_us))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--outage: bad value \"%s\": expected START+DURATION[:KIND], "
                   "e.g. 5s+10s or 2s+3s:hang", text);
      return FALSE;
    }
  if (duration_us <= 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--outage: bad value \"%s\": the duration must be more than 0", text);
      return FALSE;
    }
  outage.end_us = outage.start_us + duration_us;
  if (kind_split[1] == NULL || g_str_equal (kind_split[1], "unavailable"))
    outage.kind = OUTAGE_UNAVAILABLE;
  else if (g_str_equal (kind_split[1], "refuse"))
    outage.kind = OUTAGE_REFUSE;
  else if (g_str_equal (kind_split[1], "hang"))
    outage.kind = OUTAGE_HANG;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--outage: unknown kind \"%s\" in \"%s\" (expected unavailable, "
                   "refuse or hang)", kind_split[1], text);
      return FALSE;
    }
  g_array_append_val (mock.outages, outage);
  return TRUE;
}

/* The first window (in command-line order) that @at_us is in, or NULL. */
static const Outage *
outage_at (gint64 at_us)
{
  gint64 since = at_us - mock.listening_us;

  for (guint i = 0; i < mock.outages->len; i++)
    {
      const Outage *o = &g_array_index (mock.outages, Outage, i);

      if (since >= o->start_us && since < o->end_us)
        return o;
    }
  return NULL;
}

/* Down: answers @msg as @outage says, before anything else looks at the
 * request, so it overrides --faults and scenarios (whose sequences do not
 * advance). Counted in by_kind as what the client gets: overloaded (the
 * 503, at once or at the end of a hang), or hang (the dropped connection
 * of refuse). */
static void
serve_outage (SoupServerMessage  *msg,
              const MockProvider *provider,
              const Outage       *outage,
              const char         *path,
              gint64              start_us)
{
  guint status;

  mock.outage_requests++;
  if (outage->kind == OUTAGE_REFUSE)
    {
      /* What ends a hang: the connection closed without an answer. */
      mock.by_kind[MOCK_KIND_HANG]++;
      mock_pending_start (msg, path, MOCK_KIND_HANG, 0, start_us, 0);
      return;
    }
  mock.by_kind[MOCK_KIND_OVERLOADED]++;
  status = respond_error (msg, provider, MOCK_ERROR_OVERLOADED, 0, NULL, -1);
  if (outage->kind == OUTAGE_HANG)
    /* Held back like a slow answer, until the window ends. */
    mock_pending_start (msg, path, MOCK_KIND_OVERLOADED, status, start_us,
                        mock.listening_us + outage->end_us - start_us);
  else
    mock_log_request (path, MOCK_KIND_OVERLOADED, status, start_us, g_get_monotonic_time ());
}

static void
serve_request (SoupServerMessage  *msg,
               const MockProvider *provider,
               const char         *path,
               GHashTable         *query,
               gint64              start_us)
{
  MockRequest req = { 0, };
  const MockStep *step;
  const char *message = NULL, *data;
  MockError error;
  GString *error_body;
  GBytes *bytes;
  gsize len;
  guint64 state;
  MockKind kind;
  guint status = 200;
  gint64 delay_us;
  gint bad_variant = -1;
  gboolean streamed = FALSE;
  const Outage *outage;

  provider->set_headers (soup_server_message_get_response_headers (msg), mock.serial);

  outage = outage_at (start_us);
  if (outage != NULL)
    {
      serve_outage (msg, provider, outage, path, start_us);
      return;
    }

  if (!provider->authorize (msg, query, mock.require_key, &error, &message))
    {
      kind = error == MOCK_ERROR_UNAUTHORIZED ? MOCK_KIND_UNAUTHORIZED : MOCK_KIND_INVALID_REQUEST;
      status = respond_error (msg, provider, error, 0, message, -1);
      mock.by_kind[kind]++;
      mock_log_request (path, kind, status, start_us, g_get_monotonic_time ());
      return;
    }

  bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  data = g_bytes_get_data (bytes, &len);
  keep_request (path, bytes);
  req.serial = mock.serial;
  req.user_text = "";
  req.user_kept = mock.user_kept;
  error_body = mock.error_scratch;
  g_string_truncate (error_body, 0);
  if (!provider->parse (mock.parser, path, data, len, &req, mock.user_scratch, error_body))
    {
      respond_string (msg, 400, "application/json", g_string_new_len (error_body->str,
                                                                      error_body->len));
      mock.by_kind[MOCK_KIND_INVALID_REQUEST]++;
      mock_log_request (path, MOCK_KIND_INVALID_REQUEST, 400, start_us, g_get_monotonic_time ());
      g_bytes_unref (bytes);
      return;
    }

  /* The draws come in a fixed order, so a seed gives the same answers
   * whatever the format. */
  step = mock_scenario_pick (mock.scenario, data, len);
  state = request_random_state (data, len);
  kind = pick_kind (step, &state);
  mock.by_kind[kind]++;
  if (kind == MOCK_KIND_BAD_ANSWER)
    {
      guint64 r = mock_splitmix64 (&state);

      bad_variant = step != NULL && step->variant >= 0 ? step->variant
                                                       : (gint) (r % MOCK_N_BAD_VARIANTS);
    }
  if (kind == MOCK_KIND_HANG)
    delay_us = step != NULL && step->hang_us >= 0 ? step->hang_us : mock.hang_us;
  else
    {
      guint64 r1 = mock_splitmix64 (&state), r2 = mock_splitmix64 (&state);

      delay_us = mock_latency_draw (step != NULL && step->has_latency ? &step->latency
                                                                     : &mock.latency,
                                    r1, r2);
    }

  switch (kind)
    {
    case MOCK_KIND_OK:
    case MOCK_KIND_BAD_ANSWER:
    case MOCK_KIND_MALFORMED:
    case MOCK_KIND_CUT:
    case MOCK_KIND_STALL:
    case MOCK_KIND_MALFORMED_CHUNK:
    case MOCK_KIND_NO_USAGE:
      streamed = serve_answer (msg, provider, &req, step, kind, bad_variant, path, start_us,
                               delay_us);
      break;

    case MOCK_KIND_RATE_LIMIT:
      status = serve_rate_limit (msg, provider, step);
      break;

    case MOCK_KIND_SERVER_ERROR:
      status = respond_error (msg, provider, MOCK_ERROR_SERVER, 0, NULL, -1);
      break;

    case MOCK_KIND_OVERLOADED:
      status = respond_error (msg, provider, MOCK_ERROR_OVERLOADED, 0, NULL, -1);
      break;

    case MOCK_KIND_HTML:
      status = 502;
      soup_server_message_set_status (msg, status, NULL);
      soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_STATIC, body_html,
                                        sizeof body_html - 1);
      break;

    case MOCK_KIND_STATUS:
      status = step->status;
      streamed = serve_status (msg, provider, step, path, start_us, delay_us);
      break;

    case MOCK_KIND_HANG:
      status = 0;
      break;

    default:
      g_assert_not_reached ();
    }

  g_bytes_unref (bytes);

  if (streamed)
    return;
  if (kind == MOCK_KIND_HANG || delay_us > 0)
    mock_pending_start (msg, path, kind, status, start_us, delay_us);
  else
    mock_log_request (path, kind, status, start_us, g_get_monotonic_time ());
}

/* Routing */

/* "/v1beta/models/MODEL:generateContent" or ":streamGenerateContent". */
static gboolean
is_gemini_path (const char *path)
{
  const char *model = path + strlen ("/v1beta/models/");

  return g_str_has_prefix (path, "/v1beta/models/") && *model != ':' && *model != '\0' &&
         strchr (model, '/') == NULL &&
         (g_str_has_suffix (model, ":generateContent") ||
          g_str_has_suffix (model, ":streamGenerateContent"));
}

/* The body of the last POST as it came (tests check what sluice sent);
 * 404 before the first. */
static void
serve_last_request (SoupServerMessage *msg)
{
  gsize len = 0;
  const char *data = mock.last_request != NULL ? g_bytes_get_data (mock.last_request, &len) : NULL;

  if (data == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, data, len);
}

static void
server_callback (SoupServer        *server G_GNUC_UNUSED,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data G_GNUC_UNUSED)
{
  const char *method = soup_server_message_get_method (msg);
  const MockProvider *provider = &mock_openai;
  gint64 start_us;

  if (g_str_equal (path, "/mock/stats") && g_str_equal (method, "GET"))
    {
      serve_stats (msg);
      return;
    }
  if (g_str_equal (path, "/mock/requests") && g_str_equal (method, "GET"))
    {
      serve_kept_requests (msg);
      return;
    }
  if (g_str_equal (path, "/mock/last-request") && g_str_equal (method, "GET"))
    {
      serve_last_request (msg);
      return;
    }

  start_us = g_get_monotonic_time ();
  mock.requests++;
  mock.serial++;
  count_path (path);

  if (g_str_equal (method, "POST"))
    {
      g_clear_pointer (&mock.last_request, g_bytes_unref);
      mock.last_request = soup_message_body_flatten (soup_server_message_get_request_body (msg));
      if (g_str_equal (path, "/v1/chat/completions"))
        {
          serve_request (msg, &mock_openai, "/v1/chat/completions", query, start_us);
          return;
        }
      if (g_str_equal (path, "/chat/completions"))
        {
          serve_request (msg, &mock_openai, "/chat/completions", query, start_us);
          return;
        }
      if (g_str_equal (path, "/v1/messages"))
        {
          serve_request (msg, &mock_anthropic, "/v1/messages", query, start_us);
          return;
        }
      if (is_gemini_path (path))
        {
          /* Interned: a deferred answer keeps the path; models are few. */
          serve_request (msg, &mock_gemini, g_intern_string (path), query, start_us);
          return;
        }
    }

  /* A 404 in the format the path belongs to. */
  if (g_str_has_prefix (path, "/v1beta/"))
    provider = &mock_gemini;
  else if (g_str_equal (path, "/v1/messages"))
    provider = &mock_anthropic;
  provider->set_headers (soup_server_message_get_response_headers (msg), mock.serial);
  {
    g_autofree char *message = g_strdup_printf ("Invalid URL (%s %s)", method, path);
    guint status = respond_error (msg, provider, MOCK_ERROR_NOT_FOUND, 0, message, -1);

    mock.by_kind[MOCK_KIND_NOT_FOUND]++;
    mock_log_request (path, MOCK_KIND_NOT_FOUND, status, start_us, g_get_monotonic_time ());
  }
}

/* Every new message (the first one of a connection is started at accept
 * time): remember its socket, for the sweep and the connection count. */
static void
on_request_started (SoupServer        *server G_GNUC_UNUSED,
                    SoupServerMessage *msg,
                    gpointer           user_data G_GNUC_UNUSED)
{
  mock_sockets_track (soup_server_message_get_socket (msg));
}

static gboolean
sweep_sockets (gpointer user_data G_GNUC_UNUSED)
{
  mock_sockets_sweep (FALSE);
  return G_SOURCE_CONTINUE;
}

/* Start-up */

static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        g_warning ("could not raise the open file limit: %s", g_strerror (errno));
    }
}

static GInetAddress *
resolve_host (const char *host,
              GError    **error)
{
  GInetAddress *address;
  GList *addresses;

  if (g_str_equal (host, "localhost"))
    return g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_address_new_from_string (host);
  if (address != NULL)
    return address;
  addresses = g_resolver_lookup_by_name (g_resolver_get_default (), host, NULL, error);
  if (addresses == NULL)
    return NULL;
  address = g_object_ref (addresses->data);
  g_resolver_free_addresses (addresses);
  return address;
}

/* Our own socket, because the listener libsoup would create has a backlog
 * of 10, far too small for 256 clients connecting at once. */
static GSocket *
listen_socket (const char *host,
               guint16     port,
               GError    **error)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocket) socket = NULL;

  address = resolve_host (host, error);
  if (address == NULL)
    return NULL;
  socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  socket_address = g_inet_socket_address_new (address, port);
  if (!g_socket_bind (socket, socket_address, TRUE, error))
    return NULL;
  g_socket_set_listen_backlog (socket, 1024);
  if (!g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

static gboolean
on_quit_signal (gpointer user_data G_GNUC_UNUSED)
{
  g_main_loop_quit (mock.loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
parse_fault_kinds (const char *text,
                   GError    **error)
{
  g_auto(GStrv) names = g_strsplit (text, ",", -1);

  mock.n_fault_kinds = 0;
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *name = g_strstrip (names[i]);
      MockKind kind;
      gboolean dup = FALSE;

      if (*name == '\0')
        continue;
      if (!mock_kind_from_name (name, &kind) || kind == MOCK_KIND_OK ||
          kind == MOCK_KIND_STATUS)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--fault-kinds: unknown fault kind \"%s\" (expected some of %s,%s)",
                       name, MOCK_FAULT_KIND_LIST, MOCK_STREAM_FAULT_KIND_LIST);
          return FALSE;
        }
      for (guint j = 0; j < mock.n_fault_kinds; j++)
        dup |= mock.fault_kinds[j] == kind;
      if (!dup)
        mock.fault_kinds[mock.n_fault_kinds++] = kind;
    }
  if (mock.n_fault_kinds == 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--fault-kinds: no fault kind given");
      return FALSE;
    }
  return TRUE;
}

static int
usage_error (const char *message)
{
  g_printerr ("sluice-mock: %s\nTry 'sluice-mock --help'.\n", message);
  return EXIT_USAGE;
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *host = g_strdup ("127.0.0.1");
  g_autofree char *fault_kinds = NULL;
  g_autofree char *latency = NULL;
  g_autofree char *scenario_path = NULL;
  g_autofree char *hang = NULL;
  g_autofree char *chunk_delay = NULL;
  g_autofree char *log_path = NULL;
  g_auto(GStrv) outages = NULL;
  g_autoptr(GArray) outage_list = g_array_new (FALSE, FALSE, sizeof (Outage));
  gint port = 0;
  gint64 seed = 1;
  gint keep_requests = 0;
  double faults = 0;
  const GOptionEntry entries[] = {
    { "host", 0, 0, G_OPTION_ARG_STRING, &host,
      "Address to listen on (default 127.0.0.1)", "ADDR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port,
      "Port to listen on; 0 picks a free one (default 0)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed,
      "Seed of every random decision (default 1)", "N" },
    { "faults", 0, 0, G_OPTION_ARG_DOUBLE, &faults,
      "Fraction of requests, 0..1, that get a fault (default 0)", "RATE" },
    { "fault-kinds", 0, 0, G_OPTION_ARG_STRING, &fault_kinds,
      "Comma-separated faults to pick from (default: " MOCK_FAULT_KIND_LIST
      "; the stream faults " MOCK_STREAM_FAULT_KIND_LIST " only when named)", "KINDS" },
    { "latency", 0, 0, G_OPTION_ARG_STRING, &latency,
      "Delay before answering: 50ms, 1s, uniform:MIN,MAX or normal:MEAN,STDDEV (default 0)",
      "SPEC" },
    { "chunk-delay", 0, 0, G_OPTION_ARG_STRING, &chunk_delay,
      "Pause between the events of a streamed answer (default 0: all at once, "
      "each its own chunk)", "DURATION" },
    { "scenario", 0, 0, G_OPTION_ARG_FILENAME, &scenario_path,
      "JSON file of rules that script the answers", "FILE" },
    { "require-key", 0, 0, G_OPTION_ARG_STRING, &mock.require_key,
      "Require this API key: 'Authorization: Bearer KEY' (OpenAI), 'x-api-key: KEY' "
      "(Anthropic), 'x-goog-api-key: KEY' or ?key=KEY (Gemini); otherwise any "
      "key, or none, is accepted", "KEY" },
    { "hang", 0, 0, G_OPTION_ARG_STRING, &hang,
      "How long a hang lasts before the connection is closed (default 600s)", "DURATION" },
    { "outage", 0, 0, G_OPTION_ARG_STRING_ARRAY, &outages,
      "Be down from START for DURATION, counted from listening, e.g. 5s+10s or "
      "2s+3s:hang; may be repeated. KIND: unavailable (the format's 503, Anthropic 529; "
      "default), refuse (connection closed, no answer) or hang (no answer until the "
      "window ends, then 503). Overrides --faults and the scenario",
      "START+DURATION[:KIND]" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log_path,
      "Write one JSON line per request to FILE", "FILE" },
    { "keep-requests", 0, 0, G_OPTION_ARG_INT, &keep_requests,
      "Keep the bodies of the last N model requests for GET /mock/requests (default 0)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autofree char *address_text = NULL;
  SoupServer *server;
  guint sigint_id, sigterm_id, sweep_id;

  /* Only for messages: every number we print or parse is locale-free. */
  setlocale (LC_ALL, "");
  /* A closed stdout, stderr or client socket must not kill the server. */
  signal (SIGPIPE, SIG_IGN);

  context = g_option_context_new ("- mock LLM provider (OpenAI, Anthropic, Gemini) for sluice");
  g_option_context_set_summary (context,
    "Serves, each streamed or not:\n"
    "  POST /v1/chat/completions, /chat/completions   OpenAI (\"stream\": true,\n"
    "       stream_options.include_usage)\n"
    "  POST /v1/messages                              Anthropic Messages (\"stream\": true;\n"
    "       a forced tool_choice is answered with tool_use)\n"
    "  POST /v1beta/models/MODEL:generateContent      Gemini\n"
    "  POST /v1beta/models/MODEL:streamGenerateContent  Gemini, server-sent events\n"
    "  GET  /mock/stats\n"
    "  GET  /mock/last-request                       the body of the last POST, as sent\n"
    "Every answer is the sentiment of the last user message; every fault comes in\n"
    "the format's own error shape.\n"
    "The first line on stdout is the base URL (http://HOST:PORT).\n"
    "Durations take a unit: us, ms, s, m or h; a bare number means milliseconds.");
  g_option_context_set_description (context,
    "Fault kinds:\n"
    "  rate_limit     429 with Retry-After (Gemini: RetryInfo) and rate-limit headers\n"
    "  server_error   500;  overloaded  503 (Anthropic 529)\n"
    "  hang           no answer; the connection closes after --hang\n"
    "  malformed      a body cut in half (a stream: cut inside an event)\n"
    "  html           502 with an nginx HTML page\n"
    "  bad_answer     a 200 whose content breaks the sentiment schema\n"
    "  cut            a stream that ends cleanly without its terminal event\n"
    "                 ([DONE], message_stop, finishReason); not streamed: half a body\n"
    "  stall          the first events, then nothing, connection kept open;\n"
    "                 not streamed: the headers, then nothing\n"
    "  malformed_chunk  one event whose data is not JSON, then the rest of the stream\n"
    "  no_usage       an answer without token usage\n"
    "\n"
    "Scenario file:\n"
    "  {\"rules\": [{\"match\": \"substring of the body\", \"sequence\": [STEP, ...], \"then\": STEP}]}\n"
    "  The first rule whose match is in the request body answers; each rule walks its\n"
    "  sequence one step per matching request, then gives \"then\" (default \"ok\").\n"
    "  Requests matching no rule get the --faults behaviour.\n"
    "  A STEP is a kind name or {\"kind\": KIND, \"latency\": SPEC, ...} where KIND is\n"
    "    ok           content, usage {prompt_tokens, completion_tokens, total_tokens},\n"
    "                 finish_reason: stop (default) or length (the format's own word for it)\n"
    "    rate_limit   retry_after (Retry-After value), retry_after_ms (retry-after-ms header)\n"
    "    status       status (200..599), body, content_type, headers {name: value},\n"
    "                 chunk_bytes N (send the body N bytes at a time, chunked),\n"
    "                 chunk_delay DURATION (between those pieces; default --chunk-delay),\n"
    "                 stall_after_bytes N (send N bytes, then keep the connection open)\n"
    "    bad_answer   variant: bad_label | bad_confidence | missing_reasoning | prose\n"
    "    hang         duration (default --hang)\n"
    "    server_error, overloaded, malformed, html, cut, stall, malformed_chunk, no_usage\n"
    "\n"
    "GET /mock/stats returns {\"requests\": N, \"by_kind\": {...}, \"outage\": N (requests\n"
    "  that came during an --outage; by_kind counts them as overloaded, or as hang\n"
    "  for refuse), \"in_flight\": N,\n"
    "  \"connections\": N (TCP connections accepted), \"streams\": N (answers written in\n"
    "  pieces: event streams, cut and stall answers, chunked status steps),\n"
    "  \"paths\": {PATH: N}}.\n"
    "GET /mock/requests returns {\"requests\": [{\"path\": PATH, \"body\": TEXT}, ...]}: the\n"
    "  last --keep-requests model requests, oldest first.\n"
    "\n"
    "A last user message that starts with \"Your answer \" (sluice asking for a\n"
    "correction) is not classified: the user message before it is.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (error->message);
  if (argc > 1)
    return usage_error ("unexpected arguments");
  if (port < 0 || port > 65535)
    return usage_error ("--port must be between 0 and 65535");
  if (!(faults >= 0 && faults <= 1))
    return usage_error ("--faults must be between 0 and 1");
  if (keep_requests < 0 || keep_requests > 10000)
    return usage_error ("--keep-requests must be between 0 and 10000");
  mock.keep_requests = (guint) keep_requests;
  mock.seed = seed;
  mock.fault_rate = faults;
  if (!parse_fault_kinds (fault_kinds ? fault_kinds : MOCK_FAULT_KIND_LIST, &error))
    return usage_error (error->message);
  if (latency != NULL && !mock_parse_latency (latency, &mock.latency, &error))
    return usage_error (error->message);
  mock.hang_us = 600 * G_USEC_PER_SEC;
  if (hang != NULL && !mock_parse_duration (hang, &mock.hang_us))
    return usage_error ("--hang: expected a duration like 600s or 500ms");
  if (chunk_delay != NULL && !mock_parse_duration (chunk_delay, &mock.chunk_delay_us))
    return usage_error ("--chunk-delay: expected a duration like 20ms");
  mock.outages = outage_list;
  for (guint i = 0; outages != NULL && outages[i] != NULL; i++)
    if (!parse_outage (outages[i], &error))
      return usage_error (error->message);
  if (scenario_path != NULL)
    {
      mock.scenario = mock_scenario_load (scenario_path, &error);
      if (mock.scenario == NULL)
        {
          g_printerr ("sluice-mock: %s\n", error->message);
          return EXIT_USAGE;
        }
    }
  if (log_path != NULL)
    {
      mock.log = fopen (log_path, "w");
      if (mock.log == NULL)
        {
          g_printerr ("sluice-mock: cannot open log file %s: %s\n", log_path, g_strerror (errno));
          mock_scenario_free (mock.scenario);
          return EXIT_USAGE;
        }
      setvbuf (mock.log, NULL, _IOLBF, 0);   /* readable while we run */
    }

  raise_fd_limit ();
  mock_sentiment_init ();
  mock.parser = json_parser_new ();
  mock.user_scratch = g_string_sized_new (1024);
  mock.user_kept = g_string_sized_new (1024);
  mock.content_scratch = g_string_sized_new (1024);
  mock.log_scratch = g_string_sized_new (256);
  mock.error_scratch = g_string_sized_new (256);
  mock.events = g_array_sized_new (FALSE, FALSE, sizeof (MockEvent), 64);
  mock.paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mock.loop = g_main_loop_new (NULL, FALSE);
  mock_timers_init ();
  mock_sockets_init ();

  server = soup_server_new ("server-header", "sluice-mock ", NULL);
  soup_server_add_handler (server, NULL, server_callback, NULL, NULL);
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), NULL);

  socket = listen_socket (host, (guint16) port, &error);
  if (socket == NULL || !soup_server_listen_socket (server, socket, 0, &error))
    {
      g_printerr ("sluice-mock: cannot listen on %s port %d: %s\n", host, port, error->message);
      return 1;
    }
  mock.listening_us = g_get_monotonic_time ();
  local = g_socket_get_local_address (socket, &error);
  if (local == NULL)
    {
      g_printerr ("sluice-mock: %s\n", error->message);
      return 1;
    }
  {
    GInetAddress *ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
    g_autofree char *ip = g_inet_address_to_string (ia);

    if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6)
      address_text = g_strdup_printf ("[%s]", ip);
    else
      address_text = g_steal_pointer (&ip);
  }
  printf ("http://%s:%u\n", address_text,
          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  fflush (stdout);

  sweep_id = g_timeout_add_seconds (SWEEP_INTERVAL_S, sweep_sockets, NULL);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, NULL);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, NULL);

  g_main_loop_run (mock.loop);

  /* Shutdown: drop every paused message ourselves, so libsoup never sees a
   * paused message at dispose time. */
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_source_remove (sweep_id);
  mock_streams_close_all ();
  mock_pending_shutdown ();
  soup_server_disconnect (server);
  g_object_unref (server);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  mock_sockets_shutdown ();
  mock_timers_shutdown ();

  g_free (mock.seen.keys);
  g_free (mock.seen.counts);
  g_object_unref (mock.parser);
  g_string_free (mock.user_scratch, TRUE);
  g_string_free (mock.user_kept, TRUE);
  g_queue_clear_full (&mock.kept, (GDestroyNotify) kept_request_free);
  g_string_free (mock.content_scratch, TRUE);
  g_clear_pointer (&mock.last_request, g_bytes_unref);
  g_string_free (mock.log_scratch, TRUE);
  g_string_free (mock.error_scratch, TRUE);
  g_array_unref (mock.events);
  g_hash_table_unref (mock.paths);
  g_main_loop_unref (mock.loop);
  mock_scenario_free (mock.scenario);
  mock_sentiment_shutdown ();
  g_free (mock.require_key);
  if (mock.log != NULL)
    fclose (mock.log);
  return 0;
}
