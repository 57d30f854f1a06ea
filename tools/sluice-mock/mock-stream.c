/* mock-stream.c: bodies written in pieces, as a provider streams
 *
 * The message is paused from the handler on. Each piece is appended to
 * the chunked body and the message unpaused; libsoup writes it as one
 * chunk and, finding the body drained, pauses the message again on its
 * own. Between pieces the stream waits on the shared timer heap.
 *
 * libsoup may finish the message at any time (the client went away during
 * a write): "finished" or "disconnected" then detaches the stream before
 * anything else touches the message, since unpausing a finished message
 * is a critical in libsoup 3.2.3. A stream that waits long, or stalls on
 * purpose, also watches its socket: a paused message reads nothing, so
 * libsoup alone would never notice that the client left.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

typedef struct _MockStream MockStream;

struct _MockStream {
  MockTimer          timer;        /* first: the heap hands it back */
  SoupServerMessage *msg;          /* owned */
  GPtrArray         *pieces;       /* GBytes */
  guint              next;
  gboolean           stall;
  gboolean           sent_any;     /* the status line is out */
  gint64             piece_delay_us;
  GSocket           *socket;       /* owned; marked busy while we hold it */
  GSource           *watch;        /* owned; client-gone detection */
  gulong             finished_id;
  gulong             disconnected_id;
  const char        *path;
  MockKind           kind;
  guint              status;
  gint64             start_us;
  GList              link;         /* in streams.active */
};

static struct {
  GQueue  active;
  guint64 started;
} streams = { G_QUEUE_INIT, 0 };

static void
stream_free (MockStream *s)
{
  if (s->socket != NULL)
    {
      mock_socket_mark_busy (s->socket, -1);
      g_clear_object (&s->socket);
    }
  g_ptr_array_unref (s->pieces);
  g_clear_object (&s->msg);
  g_free (s);
}

/* Undoes everything but owning the message. */
static void
stream_detach (MockStream *s)
{
  mock_timer_cancel (&s->timer);
  if (s->watch != NULL)
    {
      g_source_destroy (s->watch);
      g_clear_pointer (&s->watch, g_source_unref);
    }
  g_clear_signal_handler (&s->finished_id, s->msg);
  g_clear_signal_handler (&s->disconnected_id, s->msg);
  g_queue_unlink (&streams.active, &s->link);
}

/* The body went out, or libsoup gave up on the message: either way it must
 * not be unpaused any more. */
static void
stream_message_gone (SoupServerMessage *msg G_GNUC_UNUSED,
                     gpointer           user_data)
{
  MockStream *s = user_data;
  gboolean complete = s->next == s->pieces->len && !s->stall;

  stream_detach (s);
  mock_log_request (s->path, s->kind, complete || s->sent_any ? s->status : 0, s->start_us,
                    g_get_monotonic_time ());
  stream_free (s);
}

/* The client left, or the mock stops: drop the connection mid-body. */
static void
stream_close (gpointer data)
{
  MockStream *s = data;
  GIOStream *stream;

  stream_detach (s);
  stream = soup_server_message_steal_connection (s->msg);
  if (stream != NULL)
    {
      g_io_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
    }
  mock_log_request (s->path, s->kind, s->sent_any ? s->status : 0, s->start_us,
                    g_get_monotonic_time ());
  stream_free (s);
}

static void
stream_watch (MockStream *s)
{
  if (s->watch == NULL && s->socket != NULL)
    s->watch = mock_socket_watch (s->socket, stream_close, s);
}

static void
stream_write (MockTimer *timer)
{
  MockStream *s = (MockStream *) timer;
  SoupMessageBody *body = soup_server_message_get_response_body (s->msg);

  do
    {
      if (s->next < s->pieces->len)
        soup_message_body_append_bytes (body, g_ptr_array_index (s->pieces, s->next++));
    }
  while (s->piece_delay_us == 0 && s->next < s->pieces->len);
  s->sent_any = TRUE;

  if (s->next < s->pieces->len)
    {
      mock_timer_schedule (&s->timer, g_get_monotonic_time () + s->piece_delay_us);
      if (s->piece_delay_us >= MOCK_WATCH_THRESHOLD_US)
        stream_watch (s);
    }
  else if (s->stall)
    stream_watch (s);
  else
    soup_message_body_complete (body);
  /* Only schedules the write: "finished" cannot run before we return. */
  soup_server_message_unpause (s->msg);
}

void
mock_stream_start (SoupServerMessage *msg,
                   GPtrArray         *pieces,
                   gboolean           stall,
                   gint64             first_at_us,
                   gint64             piece_delay_us,
                   const char        *path,
                   MockKind           kind,
                   gint64             start_us)
{
  MockStream *s = g_new0 (MockStream, 1);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  mock_timer_init (&s->timer, stream_write);
  s->msg = g_object_ref (msg);
  s->pieces = pieces;
  s->stall = stall;
  s->piece_delay_us = MAX (piece_delay_us, 0);
  s->path = path;
  s->kind = kind;
  s->status = soup_server_message_get_status (msg);
  s->start_us = start_us;
  s->link.data = s;
  g_queue_push_tail_link (&streams.active, &s->link);
  streams.started++;

  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  /* Written chunks are dropped, not kept for a body nobody reads. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_pause (msg);
  s->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (stream_message_gone), s);
  s->disconnected_id = g_signal_connect (msg, "disconnected",
                                         G_CALLBACK (stream_message_gone), s);
  /* Stealing the connection later looks the peer up; once the client has
   * reset it (unread events make its close a reset) that lookup fails with
   * a warning. Looked up now, the address is cached. */
  soup_server_message_get_remote_address (msg);
  s->socket = soup_server_message_get_socket (msg);
  if (s->socket != NULL)
    {
      g_object_ref (s->socket);
      mock_socket_mark_busy (s->socket, +1);
    }
  if (first_at_us - start_us >= MOCK_WATCH_THRESHOLD_US)
    stream_watch (s);
  mock_timer_schedule (&s->timer, first_at_us);
}

guint
mock_streams_active (void)
{
  return streams.active.length;
}

guint64
mock_streams_started (void)
{
  return streams.started;
}

void
mock_streams_close_all (void)
{
  while (streams.active.head != NULL)
    stream_close (streams.active.head->data);
}
