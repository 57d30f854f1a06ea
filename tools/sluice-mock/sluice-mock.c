/* sluice-mock: a mock LLM provider speaking the OpenAI chat-completions wire
 * format on loopback, for sluice's tests, demo and benchmarks.
 *
 * Single-threaded on purpose: one GMainContext serves every connection, so
 * the state below needs no locks and the per-request work stays small.
 * Deferred answers (latency, hangs) sit in one min-heap driven by a single
 * GSource rather than one g_timeout_add source each: GMainContext walks every
 * source on each iteration, and at 256 concurrent clients a source per
 * request would double that walk. That source wakes on a timerfd, because
 * GLib's own timeouts round up to whole milliseconds, which alone costs ~2%
 * of the throughput at 50 ms latency; deadlines are rounded up to a 250 us
 * grid instead, which batches wake-ups (about a quarter less server CPU at
 * 5,000 req/s) for 125 us of extra latency on average.
 *
 * Two libsoup 3.2.3 leaks are worked around by the socket sweep below:
 * - a keep-alive connection whose client closes it while idle is never
 *   disconnected (the EOF is read by a message that has no completion
 *   callback yet), so its descriptor stays open until the server is freed;
 * - the listener never drops the reference g_socket_accept () gave it, so
 *   every accepted GSocket object outlives its connection.
 */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define EXIT_USAGE 2
#define DEFAULT_MODEL "gpt-mock"
/* A deferred answer this long gets a watch on its socket, so a client that
 * gives up is noticed before the deadline. */
#define WATCH_THRESHOLD_US (500 * G_TIME_SPAN_MILLISECOND)
#define TIMER_GRID_US 250
#define SWEEP_INTERVAL_S 1

/* Bodies */

#define ERROR_JSON(message, type, param, code) \
  "{\"error\":{\"message\":\"" message "\",\"type\":\"" type "\",\"param\":" param ",\"code\":" code "}}"

static const char body_rate_limit[] =
  ERROR_JSON ("Rate limit reached for requests per min (RPM) in organization org-mock: "
              "Limit 60, Used 60, Requested 1. Please try again later. Visit "
              "https://platform.openai.com/account/rate-limits to learn more.",
              "requests", "null", "\"rate_limit_exceeded\"");
static const char body_server_error[] =
  ERROR_JSON ("The server had an error while processing your request. Sorry about that!",
              "server_error", "null", "null");
static const char body_overloaded[] =
  ERROR_JSON ("The engine is currently overloaded, please try again later.",
              "server_error", "null", "\"overloaded\"");
static const char body_unauthorized[] =
  ERROR_JSON ("Incorrect API key provided. You can find your API key at "
              "https://platform.openai.com/account/api-keys.",
              "invalid_request_error", "null", "\"invalid_api_key\"");
static const char body_invalid_json[] =
  ERROR_JSON ("We could not parse the JSON body of your request. (HINT: This likely means "
              "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
              "payload, but what was sent was not valid JSON.)",
              "invalid_request_error", "null", "null");
static const char body_not_object[] =
  ERROR_JSON ("The request body must be a JSON object.",
              "invalid_request_error", "null", "null");
static const char body_missing_messages[] =
  ERROR_JSON ("Missing required parameter: 'messages'.",
              "invalid_request_error", "\"messages\"", "\"missing_required_parameter\"");
static const char body_messages_type[] =
  ERROR_JSON ("Invalid type for 'messages': expected an array.",
              "invalid_request_error", "\"messages\"", "\"invalid_type\"");
static const char body_html[] =
  "<html>\r\n"
  "<head><title>502 Bad Gateway</title></head>\r\n"
  "<body>\r\n"
  "<center><h1>502 Bad Gateway</h1></center>\r\n"
  "<hr><center>nginx/1.22.1</center>\r\n"
  "</body>\r\n"
  "</html>\r\n";

/* State */

typedef struct _Pending Pending;

/* One paused message waiting for its deadline. */
struct _Pending {
  SoupServerMessage *msg;          /* owned */
  const char        *path;         /* static string */
  gint64             start_us;
  gint64             deadline_us;
  guint              heap_index;
  gulong             finished_id;
  gulong             disconnected_id;
  GSource           *watch;        /* owned; client-gone detection */
  GSocket           *socket;       /* owned; marked busy while we hold it */
  MockKind           kind;
  guint              status;
  Pending           *next_free;
};

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
  char         *require_key;
  MockScenario *scenario;
  FILE         *log;

  /* per-request helpers, reused */
  JsonParser   *parser;
  GString      *user_scratch;
  GString      *content_scratch;
  GString      *log_scratch;
  BodyCounter   seen;

  /* counters */
  guint64       requests;
  guint64       by_kind[MOCK_N_KINDS];
  guint         in_flight;
  guint64       serial;

  /* deferred answers */
  Pending     **heap;
  guint         heap_length;
  guint         heap_capacity;
  GSource      *timer;
  int           timer_fd;          /* -1: fall back to the ready time */
  Pending      *free_pending;

  /* every client socket libsoup has shown us, owned; see the sweep */
  GHashTable   *sockets;
  GQuark        busy_quark;

  GMainLoop    *loop;
} mock;

/* Logging */

static void
log_request (const char *path,
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

/* Deferred answers: a binary min-heap on deadline_us */

static void
heap_swap (guint a,
           guint b)
{
  Pending *t = mock.heap[a];

  mock.heap[a] = mock.heap[b];
  mock.heap[b] = t;
  mock.heap[a]->heap_index = a;
  mock.heap[b]->heap_index = b;
}

static void
heap_sift_up (guint i)
{
  while (i > 0)
    {
      guint parent = (i - 1) / 2;

      if (mock.heap[parent]->deadline_us <= mock.heap[i]->deadline_us)
        break;
      heap_swap (i, parent);
      i = parent;
    }
}

static void
heap_sift_down (guint i)
{
  for (;;)
    {
      guint l = 2 * i + 1, r = l + 1, m = i;

      if (l < mock.heap_length && mock.heap[l]->deadline_us < mock.heap[m]->deadline_us)
        m = l;
      if (r < mock.heap_length && mock.heap[r]->deadline_us < mock.heap[m]->deadline_us)
        m = r;
      if (m == i)
        break;
      heap_swap (i, m);
      i = m;
    }
}

/* Wakes the timer source at @deadline_us (monotonic), or never if < 0. */
static void
timer_arm (gint64 deadline_us)
{
  struct itimerspec spec = { { 0, 0 }, { 0, 0 } };

  if (mock.timer_fd < 0)
    {
      g_source_set_ready_time (mock.timer, deadline_us);
      return;
    }
  if (deadline_us >= 0)
    {
      /* Round up to the timer grid so answers due close together go out
       * in one wake-up. */
      deadline_us = (deadline_us + TIMER_GRID_US - 1) / TIMER_GRID_US * TIMER_GRID_US;
      spec.it_value.tv_sec = deadline_us / G_USEC_PER_SEC;
      spec.it_value.tv_nsec = (deadline_us % G_USEC_PER_SEC) * 1000;
      if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
        spec.it_value.tv_nsec = 1;   /* all zero would disarm */
    }
  if (timerfd_settime (mock.timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) != 0)
    g_warning ("timerfd_settime: %s", g_strerror (errno));
}

static void
heap_push (Pending *p)
{
  if (mock.heap_length == mock.heap_capacity)
    {
      mock.heap_capacity = mock.heap_capacity ? mock.heap_capacity * 2 : 1024;
      mock.heap = g_renew (Pending *, mock.heap, mock.heap_capacity);
    }
  p->heap_index = mock.heap_length;
  mock.heap[mock.heap_length++] = p;
  heap_sift_up (p->heap_index);
  if (p->heap_index == 0)
    timer_arm (p->deadline_us);
}

static void
heap_remove (Pending *p)
{
  guint i = p->heap_index;

  g_assert (i < mock.heap_length && mock.heap[i] == p);
  mock.heap_length--;
  if (i != mock.heap_length)
    {
      mock.heap[i] = mock.heap[mock.heap_length];
      mock.heap[i]->heap_index = i;
      heap_sift_down (i);
      heap_sift_up (i);
    }
  p->heap_index = G_MAXUINT;
  /* The timer is re-armed lazily: a dispatch with nothing due is harmless. */
}

/* Client connections */

static void
socket_mark_busy (GSocket *socket,
                  gint     delta)
{
  guint busy = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (socket), mock.busy_quark));

  g_object_set_qdata (G_OBJECT (socket), mock.busy_quark, GUINT_TO_POINTER (busy + delta));
}

/* libsoup 3.2's listen_watch () keeps the GSocket from g_socket_accept ()
 * without ever releasing it. Once libsoup and we are done with a closed
 * socket, a count of exactly one reference beyond ours is that orphan; we
 * drop it then, so the object is freed. Only for the version whose source
 * was checked: anywhere else an extra reference could be someone's. */
static gboolean orphan_ref_fix;

/* Every new message (the first one of a connection is started at accept
 * time): remember its socket so the sweep can look at it. */
static void
on_request_started (SoupServer        *server G_GNUC_UNUSED,
                    SoupServerMessage *msg,
                    gpointer           user_data G_GNUC_UNUSED)
{
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket != NULL && !g_hash_table_contains (mock.sockets, socket))
    g_hash_table_add (mock.sockets, g_object_ref (socket));
}

/* TRUE when nobody but us (and libsoup 3.2's orphan reference) holds the
 * closed @socket any more: then it is released and forgotten. */
static gboolean
socket_release_if_unused (GSocket *socket)
{
  guint others = g_atomic_int_get (&G_OBJECT (socket)->ref_count) - 1;

  if (others == 0)
    return TRUE;
  if (others == 1 && orphan_ref_fix)
    {
      g_object_unref (socket);
      return TRUE;
    }
  return FALSE;   /* libsoup still holds it */
}

/* Closes sockets whose client went away while no answer of ours was pending
 * on them (the idle keep-alive leak), and forgets closed sockets once
 * libsoup let go of them. Closing releases the descriptor at once;
 * libsoup's bookkeeping for such a dead connection stays until shutdown, a
 * few hundred bytes each. */
static void
sweep_sockets_now (gboolean shutting_down)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, mock.sockets);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      GSocket *socket = key;
      char byte;
      gssize n;

      if (g_object_get_qdata (G_OBJECT (socket), mock.busy_quark) != NULL)
        continue;
      if (!g_socket_is_closed (socket))
        {
          n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (!shutting_down &&
              (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))))
            continue;
          g_socket_close (socket, NULL);
        }
      if (socket_release_if_unused (socket) || shutting_down)
        g_hash_table_iter_remove (&iter);
    }
}

static gboolean
sweep_sockets (gpointer user_data G_GNUC_UNUSED)
{
  sweep_sockets_now (FALSE);
  return G_SOURCE_CONTINUE;
}

static Pending *
pending_new (void)
{
  Pending *p = mock.free_pending;

  if (p != NULL)
    {
      mock.free_pending = p->next_free;
      memset (p, 0, sizeof *p);
    }
  else
    p = g_new0 (Pending, 1);
  p->heap_index = G_MAXUINT;
  return p;
}

/* Undoes everything pending_start did except owning the message. */
static void
pending_detach (Pending *p)
{
  if (p->heap_index != G_MAXUINT)
    heap_remove (p);
  if (p->watch != NULL)
    {
      g_source_destroy (p->watch);
      g_clear_pointer (&p->watch, g_source_unref);
    }
  g_clear_signal_handler (&p->finished_id, p->msg);
  g_clear_signal_handler (&p->disconnected_id, p->msg);
  mock.in_flight--;
}

static void
pending_release (Pending *p)
{
  if (p->socket != NULL)
    {
      socket_mark_busy (p->socket, -1);
      g_clear_object (&p->socket);
    }
  g_clear_object (&p->msg);
  p->next_free = mock.free_pending;
  mock.free_pending = p;
}

/* The deadline of a normal deferred answer: the response is already set. */
static void
pending_answer (Pending *p)
{
  pending_detach (p);
  soup_server_message_unpause (p->msg);
  log_request (p->path, p->kind, p->status, p->start_us, g_get_monotonic_time ());
  pending_release (p);
}

/* End of a hang, a client that went away, or shutdown: drop the connection
 * without an answer. */
static void
pending_close (Pending *p)
{
  GIOStream *stream;

  pending_detach (p);
  stream = soup_server_message_steal_connection (p->msg);
  if (stream != NULL)
    {
      g_io_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
    }
  log_request (p->path, p->kind, 0, p->start_us, g_get_monotonic_time ());
  pending_release (p);
}

/* libsoup finished with the message before we answered it (the connection
 * went away): it must not be unpaused any more. */
static void
pending_message_gone (SoupServerMessage *msg G_GNUC_UNUSED,
                      gpointer           user_data)
{
  Pending *p = user_data;

  pending_detach (p);
  log_request (p->path, p->kind, 0, p->start_us, g_get_monotonic_time ());
  pending_release (p);
}

static gboolean
pending_socket_event (GSocket      *socket,
                      GIOCondition  condition G_GNUC_UNUSED,
                      gpointer      user_data)
{
  Pending *p = user_data;
  char byte;
  gssize n;

  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n > 0)
    {
      /* A pipelined request: the client is still there. Stop watching (the
       * socket would stay readable) and wait for the deadline. */
      g_clear_pointer (&p->watch, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  pending_close (p);
  return G_SOURCE_REMOVE;
}

static gboolean
timer_dispatch (GSource    *source G_GNUC_UNUSED,
                GSourceFunc callback G_GNUC_UNUSED,
                gpointer    user_data G_GNUC_UNUSED)
{
  gint64 now = g_get_monotonic_time ();
  guint64 expirations;

  if (mock.timer_fd >= 0 && read (mock.timer_fd, &expirations, sizeof expirations) < 0 &&
      errno != EAGAIN)
    g_warning ("timerfd read: %s", g_strerror (errno));
  while (mock.heap_length > 0 && mock.heap[0]->deadline_us <= now)
    {
      Pending *p = mock.heap[0];

      if (p->kind == MOCK_KIND_HANG)
        pending_close (p);
      else
        pending_answer (p);
    }
  timer_arm (mock.heap_length > 0 ? mock.heap[0]->deadline_us : -1);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

static void
pending_start (SoupServerMessage *msg,
               const char        *path,
               MockKind           kind,
               guint              status,
               gint64             start_us,
               gint64             delay_us)
{
  Pending *p = pending_new ();
  GSocket *socket;

  p->msg = g_object_ref (msg);
  p->path = path;
  p->kind = kind;
  p->status = status;
  p->start_us = start_us;
  p->deadline_us = start_us + delay_us;
  soup_server_message_pause (msg);
  p->finished_id = g_signal_connect (msg, "finished",
                                     G_CALLBACK (pending_message_gone), p);
  p->disconnected_id = g_signal_connect (msg, "disconnected",
                                         G_CALLBACK (pending_message_gone), p);
  socket = soup_server_message_get_socket (msg);
  if (socket != NULL)
    {
      p->socket = g_object_ref (socket);
      socket_mark_busy (socket, +1);
    }
  if (socket != NULL && delay_us >= WATCH_THRESHOLD_US)
    {
      p->watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (p->watch, G_SOURCE_FUNC (pending_socket_event), p, NULL);
      g_source_attach (p->watch, NULL);
    }
  mock.in_flight++;
  heap_push (p);
}

/* Responses */

static void
respond_static (SoupServerMessage *msg,
                guint              status,
                const char        *content_type,
                const char        *body,
                gsize              len)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_STATIC, body, len);
}

#define RESPOND_STATIC(msg, status, type, body) \
  respond_static ((msg), (status), (type), (body), sizeof (body) - 1)

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

static void
respond_error (SoupServerMessage *msg,
               guint              status,
               const char        *message,
               const char        *type)
{
  GString *body = g_string_sized_new (160);

  g_string_append (body, "{\"error\":{\"message\":");
  mock_append_json_string (body, message, strlen (message));
  g_string_append_printf (body, ",\"type\":\"%s\",\"param\":null,\"code\":null}}", type);
  respond_string (msg, status, "application/json", body);
}

static void
serve_stats (SoupServerMessage *msg)
{
  GString *body = g_string_sized_new (512);

  g_string_append_printf (body, "{\"requests\":%" G_GUINT64_FORMAT ",\"by_kind\":{",
                          mock.requests);
  for (guint i = 0; i < MOCK_N_KINDS; i++)
    g_string_append_printf (body, "%s\"%s\":%" G_GUINT64_FORMAT, i > 0 ? "," : "",
                            mock_kind_name ((MockKind) i), mock.by_kind[i]);
  g_string_append_printf (body, "},\"in_flight\":%u}", mock.in_flight);
  respond_string (msg, SOUP_STATUS_OK, "application/json", body);
}

/* What the handler needs from a chat request body. Strings point into the
 * shared parser or scratch buffer: valid until the next request. */
typedef struct {
  const char *model;
  const char *user_text;
  gsize       user_len;
  gint64      prompt_tokens;
} ChatRequest;

/* Byte length of a message's text; for content-part arrays, also collects
 * the text into @collect when non-NULL. */
static gsize
content_bytes (JsonNode   *content,
               const char **text,
               GString    *collect)
{
  *text = NULL;
  if (content == NULL || !JSON_NODE_HOLDS_VALUE (content))
    {
      gsize total = 0;

      if (content == NULL || !JSON_NODE_HOLDS_ARRAY (content))
        return 0;
      if (collect != NULL)
        g_string_truncate (collect, 0);
      for (guint i = 0, n = json_array_get_length (json_node_get_array (content)); i < n; i++)
        {
          JsonNode *part = json_array_get_element (json_node_get_array (content), i);
          JsonNode *part_text;

          if (!JSON_NODE_HOLDS_OBJECT (part))
            continue;
          part_text = json_object_get_member (json_node_get_object (part), "text");
          if (part_text == NULL || !JSON_NODE_HOLDS_VALUE (part_text) ||
              json_node_get_value_type (part_text) != G_TYPE_STRING)
            continue;
          if (collect != NULL)
            {
              if (collect->len > 0)
                g_string_append_c (collect, '\n');
              g_string_append (collect, json_node_get_string (part_text));
            }
          total += strlen (json_node_get_string (part_text));
        }
      if (collect != NULL)
        *text = collect->str;
      return total;
    }
  if (json_node_get_value_type (content) != G_TYPE_STRING)
    return 0;
  *text = json_node_get_string (content);
  return strlen (*text);
}

/* Returns NULL when @body is a usable chat request, else the 400 body. */
static const char *
parse_chat_request (const char  *body,
                    gsize        len,
                    ChatRequest *req)
{
  JsonNode *root, *messages, *model;
  JsonObject *obj;
  JsonArray *array;
  guint n;

  if (len == 0 || !json_parser_load_from_data (mock.parser, body, (gssize) len, NULL))
    return body_invalid_json;
  root = json_parser_get_root (mock.parser);
  if (root == NULL)
    return body_invalid_json;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return body_not_object;
  obj = json_node_get_object (root);
  messages = json_object_get_member (obj, "messages");
  if (messages == NULL)
    return body_missing_messages;
  if (!JSON_NODE_HOLDS_ARRAY (messages))
    return body_messages_type;

  model = json_object_get_member (obj, "model");
  if (model != NULL && JSON_NODE_HOLDS_VALUE (model) &&
      json_node_get_value_type (model) == G_TYPE_STRING)
    req->model = json_node_get_string (model);
  else
    req->model = DEFAULT_MODEL;

  req->user_text = "";
  req->user_len = 0;
  req->prompt_tokens = 3;
  array = json_node_get_array (messages);
  n = json_array_get_length (array);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *message;
      JsonNode *role;
      const char *text;
      gboolean is_user;
      gsize bytes;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      message = json_node_get_object (element);
      role = json_object_get_member (message, "role");
      is_user = role != NULL && JSON_NODE_HOLDS_VALUE (role) &&
                json_node_get_value_type (role) == G_TYPE_STRING &&
                g_str_equal (json_node_get_string (role), "user");
      bytes = content_bytes (json_object_get_member (message, "content"), &text,
                             is_user ? mock.user_scratch : NULL);
      req->prompt_tokens += mock_tokens_for_bytes (bytes) + 4;
      if (is_user)
        {
          req->user_text = text != NULL ? text : "";
          req->user_len = text != NULL ? bytes : 0;
          if (text == mock.user_scratch->str)
            req->user_len = mock.user_scratch->len;
        }
    }
  return NULL;
}

/* Builds the body of a chat completion for @req into a new string. */
static GString *
build_completion (const ChatRequest *req,
                  const MockStep    *step,
                  gint               bad_variant)
{
  const char *content;
  gsize content_len;
  gint64 pt, ct, tt;
  GString *body;

  if (step != NULL && step->content != NULL)
    {
      content = step->content;
      content_len = strlen (content);
    }
  else
    {
      g_string_truncate (mock.content_scratch, 0);
      mock_append_sentiment_answer (mock.content_scratch, req->user_text, req->user_len,
                                    bad_variant);
      content = mock.content_scratch->str;
      content_len = mock.content_scratch->len;
    }

  pt = step != NULL && step->prompt_tokens >= 0 ? step->prompt_tokens : req->prompt_tokens;
  ct = step != NULL && step->completion_tokens >= 0 ? step->completion_tokens
                                                    : mock_tokens_for_bytes (content_len);
  tt = step != NULL && step->total_tokens >= 0 ? step->total_tokens : pt + ct;

  body = g_string_sized_new (content_len * 2 + 400);
  mock_append_completion (body, mock.serial, req->model, content, content_len, pt, ct, tt);
  return body;
}

static gboolean
authorized (SoupServerMessage *msg)
{
  const char *auth;

  auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                       "Authorization");
  if (auth == NULL || g_ascii_strncasecmp (auth, "Bearer ", 7) != 0)
    return FALSE;
  auth += 7;
  while (*auth == ' ')
    auth++;
  if (mock.require_key != NULL)
    return g_str_equal (auth, mock.require_key);
  return *auth != '\0';
}

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

static void
serve_chat (SoupServerMessage *msg,
            const char        *path,
            gint64             start_us)
{
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  const char *error_body;
  const MockStep *step;
  ChatRequest req;
  GBytes *bytes;
  const char *data;
  gsize len;
  guint64 state;
  MockKind kind;
  guint status = 200;
  gint64 delay_us;
  char request_id[48];

  g_snprintf (request_id, sizeof request_id, "req_mock_%" G_GUINT64_FORMAT, mock.serial);
  soup_message_headers_replace (response_headers, "x-request-id", request_id);

  if (!authorized (msg))
    {
      RESPOND_STATIC (msg, 401, "application/json", body_unauthorized);
      mock.by_kind[MOCK_KIND_UNAUTHORIZED]++;
      log_request (path, MOCK_KIND_UNAUTHORIZED, 401, start_us, g_get_monotonic_time ());
      return;
    }

  bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  data = g_bytes_get_data (bytes, &len);
  error_body = parse_chat_request (data, len, &req);
  if (error_body != NULL)
    {
      respond_static (msg, 400, "application/json", error_body, strlen (error_body));
      mock.by_kind[MOCK_KIND_INVALID_REQUEST]++;
      log_request (path, MOCK_KIND_INVALID_REQUEST, 400, start_us, g_get_monotonic_time ());
      g_bytes_unref (bytes);
      return;
    }

  step = mock_scenario_pick (mock.scenario, data, len);
  state = request_random_state (data, len);
  kind = pick_kind (step, &state);
  mock.by_kind[kind]++;

  switch (kind)
    {
    case MOCK_KIND_OK:
      respond_string (msg, 200, "application/json", build_completion (&req, step, -1));
      break;

    case MOCK_KIND_BAD_ANSWER:
      {
        guint64 r = mock_splitmix64 (&state);
        gint variant = step != NULL && step->variant >= 0 ? step->variant
                                                         : (gint) (r % MOCK_N_BAD_VARIANTS);

        respond_string (msg, 200, "application/json", build_completion (&req, NULL, variant));
      }
      break;

    case MOCK_KIND_MALFORMED:
      {
        GString *body = build_completion (&req, NULL, -1);

        g_string_truncate (body, body->len / 2);
        respond_string (msg, 200, "application/json", body);
      }
      break;

    case MOCK_KIND_RATE_LIMIT:
      status = 429;
      if (step != NULL && (step->retry_after != NULL || step->retry_after_ms >= 0))
        {
          if (step->retry_after != NULL)
            soup_message_headers_replace (response_headers, "Retry-After", step->retry_after);
          if (step->retry_after_ms >= 0)
            {
              char value[32];

              g_snprintf (value, sizeof value, "%" G_GINT64_FORMAT, step->retry_after_ms);
              soup_message_headers_replace (response_headers, "retry-after-ms", value);
            }
        }
      else
        soup_message_headers_replace (response_headers, "Retry-After", "1");
      RESPOND_STATIC (msg, status, "application/json", body_rate_limit);
      break;

    case MOCK_KIND_SERVER_ERROR:
      status = 500;
      RESPOND_STATIC (msg, status, "application/json", body_server_error);
      break;

    case MOCK_KIND_OVERLOADED:
      status = 503;
      RESPOND_STATIC (msg, status, "application/json", body_overloaded);
      break;

    case MOCK_KIND_HTML:
      status = 502;
      RESPOND_STATIC (msg, status, "text/html", body_html);
      break;

    case MOCK_KIND_STATUS:
      status = step->status;
      for (guint i = 0; i < step->n_headers; i++)
        soup_message_headers_replace (response_headers, step->header_names[i],
                                      step->header_values[i]);
      if (step->body != NULL)
        {
          soup_server_message_set_status (msg, status, NULL);
          soup_server_message_set_response (msg,
                                            step->content_type ? step->content_type
                                                               : "application/json",
                                            SOUP_MEMORY_COPY, step->body, step->body_len);
        }
      else
        {
          g_autofree char *message = g_strdup_printf ("Mock status %u.", status);

          respond_error (msg, status, message,
                         status < 500 ? "invalid_request_error" : "server_error");
          if (step->content_type != NULL)
            soup_message_headers_set_content_type (response_headers, step->content_type, NULL);
        }
      break;

    case MOCK_KIND_HANG:
      status = 0;
      break;

    default:
      g_assert_not_reached ();
    }

  g_bytes_unref (bytes);

  if (kind == MOCK_KIND_HANG)
    delay_us = step != NULL && step->hang_us >= 0 ? step->hang_us : mock.hang_us;
  else
    {
      guint64 r1 = mock_splitmix64 (&state), r2 = mock_splitmix64 (&state);

      delay_us = mock_latency_draw (step != NULL && step->has_latency ? &step->latency
                                                                     : &mock.latency,
                                    r1, r2);
    }

  if (kind == MOCK_KIND_HANG || delay_us > 0)
    pending_start (msg, path, kind, status, start_us, delay_us);
  else
    log_request (path, kind, status, start_us, g_get_monotonic_time ());
}

static void
server_callback (SoupServer        *server G_GNUC_UNUSED,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query G_GNUC_UNUSED,
                 gpointer           user_data G_GNUC_UNUSED)
{
  const char *method = soup_server_message_get_method (msg);
  gint64 start_us;

  if (g_str_equal (path, "/mock/stats") && g_str_equal (method, "GET"))
    {
      serve_stats (msg);
      return;
    }

  start_us = g_get_monotonic_time ();
  mock.requests++;
  mock.serial++;

  if (g_str_equal (method, "POST"))
    {
      if (g_str_equal (path, "/v1/chat/completions"))
        {
          serve_chat (msg, "/v1/chat/completions", start_us);
          return;
        }
      if (g_str_equal (path, "/chat/completions"))
        {
          serve_chat (msg, "/chat/completions", start_us);
          return;
        }
    }

  {
    g_autofree char *message = g_strdup_printf ("Invalid URL (%s %s)", method, path);

    respond_error (msg, 404, message, "invalid_request_error");
    mock.by_kind[MOCK_KIND_NOT_FOUND]++;
    log_request (path, MOCK_KIND_NOT_FOUND, 404, start_us, g_get_monotonic_time ());
  }
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
                       "--fault-kinds: unknown fault kind \"%s\" (expected some of %s)",
                       name, MOCK_FAULT_KIND_LIST);
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
  g_autofree char *log_path = NULL;
  gint port = 0;
  gint64 seed = 1;
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
      "Comma-separated faults to pick from (default all: " MOCK_FAULT_KIND_LIST ")", "KINDS" },
    { "latency", 0, 0, G_OPTION_ARG_STRING, &latency,
      "Delay before answering: 50ms, 1s, uniform:MIN,MAX or normal:MEAN,STDDEV (default 0)",
      "SPEC" },
    { "scenario", 0, 0, G_OPTION_ARG_FILENAME, &scenario_path,
      "JSON file of rules that script the answers", "FILE" },
    { "require-key", 0, 0, G_OPTION_ARG_STRING, &mock.require_key,
      "Require 'Authorization: Bearer KEY' (otherwise any Bearer token is accepted)", "KEY" },
    { "hang", 0, 0, G_OPTION_ARG_STRING, &hang,
      "How long a hang lasts before the connection is closed (default 600s)", "DURATION" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log_path,
      "Write one JSON line per request to FILE", "FILE" },
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

  context = g_option_context_new ("- mock OpenAI chat-completions provider for sluice");
  g_option_context_set_summary (context,
    "Serves POST /chat/completions and /v1/chat/completions, and GET /mock/stats.\n"
    "The first line on stdout is the base URL (http://HOST:PORT).\n"
    "Durations take a unit: us, ms, s, m or h; a bare number means milliseconds.");
  g_option_context_set_description (context,
    "Scenario file:\n"
    "  {\"rules\": [{\"match\": \"substring of the body\", \"sequence\": [STEP, ...], \"then\": STEP}]}\n"
    "  The first rule whose match is in the request body answers; each rule walks its\n"
    "  sequence one step per matching request, then gives \"then\" (default \"ok\").\n"
    "  Requests matching no rule get the --faults behaviour.\n"
    "  A STEP is a kind name or {\"kind\": KIND, \"latency\": SPEC, ...} where KIND is\n"
    "    ok           content, usage {prompt_tokens, completion_tokens, total_tokens}\n"
    "    rate_limit   retry_after (Retry-After value), retry_after_ms (retry-after-ms header)\n"
    "    status       status (200..599), body, content_type, headers {name: value}\n"
    "    bad_answer   variant: bad_label | bad_confidence | missing_reasoning | prose\n"
    "    hang         duration (default --hang)\n"
    "    server_error, overloaded, malformed, html\n"
    "\n"
    "GET /mock/stats returns {\"requests\": N, \"by_kind\": {...}, \"in_flight\": N}.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (error->message);
  if (argc > 1)
    return usage_error ("unexpected arguments");
  if (port < 0 || port > 65535)
    return usage_error ("--port must be between 0 and 65535");
  if (!(faults >= 0 && faults <= 1))
    return usage_error ("--faults must be between 0 and 1");
  mock.seed = seed;
  mock.fault_rate = faults;
  if (!parse_fault_kinds (fault_kinds ? fault_kinds : MOCK_FAULT_KIND_LIST, &error))
    return usage_error (error->message);
  if (latency != NULL && !mock_parse_latency (latency, &mock.latency, &error))
    return usage_error (error->message);
  mock.hang_us = 600 * G_USEC_PER_SEC;
  if (hang != NULL && !mock_parse_duration (hang, &mock.hang_us))
    return usage_error ("--hang: expected a duration like 600s or 500ms");
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
  mock.content_scratch = g_string_sized_new (1024);
  mock.log_scratch = g_string_sized_new (256);
  mock.loop = g_main_loop_new (NULL, FALSE);
  mock.timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_priority (mock.timer, G_PRIORITY_DEFAULT);
  /* timerfd and g_get_monotonic_time () share CLOCK_MONOTONIC. */
  mock.timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (mock.timer_fd >= 0)
    g_source_add_unix_fd (mock.timer, mock.timer_fd, G_IO_IN);
  g_source_attach (mock.timer, NULL);

  mock.sockets = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  mock.busy_quark = g_quark_from_static_string ("sluice-mock-busy");
  orphan_ref_fix = soup_check_version (3, 2, 0) && !soup_check_version (3, 3, 0);

  server = soup_server_new ("server-header", "sluice-mock ", NULL);
  soup_server_add_handler (server, NULL, server_callback, NULL, NULL);
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), NULL);

  socket = listen_socket (host, (guint16) port, &error);
  if (socket == NULL || !soup_server_listen_socket (server, socket, 0, &error))
    {
      g_printerr ("sluice-mock: cannot listen on %s port %d: %s\n", host, port, error->message);
      return 1;
    }
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
  while (mock.heap_length > 0)
    pending_close (mock.heap[0]);
  soup_server_disconnect (server);
  g_object_unref (server);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  sweep_sockets_now (TRUE);
  g_hash_table_unref (mock.sockets);

  g_source_destroy (mock.timer);
  g_source_unref (mock.timer);
  if (mock.timer_fd >= 0)
    close (mock.timer_fd);
  g_free (mock.heap);
  while (mock.free_pending != NULL)
    {
      Pending *p = mock.free_pending;

      mock.free_pending = p->next_free;
      g_free (p);
    }
  g_free (mock.seen.keys);
  g_free (mock.seen.counts);
  g_object_unref (mock.parser);
  g_string_free (mock.user_scratch, TRUE);
  g_string_free (mock.content_scratch, TRUE);
  g_string_free (mock.log_scratch, TRUE);
  g_main_loop_unref (mock.loop);
  mock_scenario_free (mock.scenario);
  mock_sentiment_shutdown ();
  g_free (mock.require_key);
  if (mock.log != NULL)
    fclose (mock.log);
  return 0;
}
