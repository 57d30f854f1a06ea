/* mock-pending.c: answers held back for latency, and hangs
 *
 * The response is set from the handler; the message stays paused until
 * its deadline on the shared timer heap, then is unpaused (an answer) or
 * has its connection dropped (a hang). Pending records are recycled: at
 * thousands of requests a second the allocator showed in profiles.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

#include <string.h>

typedef struct _Pending Pending;

struct _Pending {
  MockTimer          timer;          /* first: the heap hands it back */
  SoupServerMessage *msg;            /* owned */
  const char        *path;           /* static or interned */
  gint64             start_us;
  gulong             finished_id;
  gulong             disconnected_id;
  GSource           *watch;          /* owned; client-gone detection */
  GSocket           *socket;         /* owned; marked busy while we hold it */
  MockKind           kind;
  guint              status;
  GList              link;           /* in pendings.active */
  Pending           *next_free;
};

static struct {
  GQueue   active;
  Pending *free;
} pendings = { G_QUEUE_INIT, NULL };

static Pending *
pending_new (void)
{
  Pending *p = pendings.free;

  if (p != NULL)
    {
      pendings.free = p->next_free;
      memset (p, 0, sizeof *p);
    }
  else
    p = g_new0 (Pending, 1);
  return p;
}

/* Undoes everything mock_pending_start did except owning the message. */
static void
pending_detach (Pending *p)
{
  mock_timer_cancel (&p->timer);
  if (p->watch != NULL)
    {
      g_source_destroy (p->watch);
      g_clear_pointer (&p->watch, g_source_unref);
    }
  g_clear_signal_handler (&p->finished_id, p->msg);
  g_clear_signal_handler (&p->disconnected_id, p->msg);
  g_queue_unlink (&pendings.active, &p->link);
}

static void
pending_release (Pending *p)
{
  if (p->socket != NULL)
    {
      mock_socket_mark_busy (p->socket, -1);
      g_clear_object (&p->socket);
    }
  g_clear_object (&p->msg);
  p->next_free = pendings.free;
  pendings.free = p;
}

/* The deadline of a normal deferred answer: the response is already set. */
static void
pending_answer (Pending *p)
{
  pending_detach (p);
  soup_server_message_unpause (p->msg);
  mock_log_request (p->path, p->kind, p->status, p->start_us, g_get_monotonic_time ());
  pending_release (p);
}

/* End of a hang, a client that went away, or shutdown: drop the connection
 * without an answer. */
static void
pending_close (gpointer data)
{
  Pending *p = data;
  GIOStream *stream;

  pending_detach (p);
  stream = soup_server_message_steal_connection (p->msg);
  if (stream != NULL)
    {
      g_io_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
    }
  mock_log_request (p->path, p->kind, 0, p->start_us, g_get_monotonic_time ());
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
  mock_log_request (p->path, p->kind, 0, p->start_us, g_get_monotonic_time ());
  pending_release (p);
}

static void
pending_fire (MockTimer *timer)
{
  Pending *p = (Pending *) timer;

  if (p->kind == MOCK_KIND_HANG)
    pending_close (p);
  else
    pending_answer (p);
}

void
mock_pending_start (SoupServerMessage *msg,
                    const char        *path,
                    MockKind           kind,
                    guint              status,
                    gint64             start_us,
                    gint64             delay_us)
{
  Pending *p = pending_new ();
  GSocket *socket;

  mock_timer_init (&p->timer, pending_fire);
  p->msg = g_object_ref (msg);
  p->path = path;
  p->kind = kind;
  p->status = status;
  p->start_us = start_us;
  p->link.data = p;
  g_queue_push_tail_link (&pendings.active, &p->link);
  soup_server_message_pause (msg);
  p->finished_id = g_signal_connect (msg, "finished",
                                     G_CALLBACK (pending_message_gone), p);
  p->disconnected_id = g_signal_connect (msg, "disconnected",
                                         G_CALLBACK (pending_message_gone), p);
  socket = soup_server_message_get_socket (msg);
  if (socket != NULL)
    {
      p->socket = g_object_ref (socket);
      mock_socket_mark_busy (socket, +1);
    }
  if (socket != NULL && delay_us >= MOCK_WATCH_THRESHOLD_US)
    p->watch = mock_socket_watch (socket, pending_close, p);
  mock_timer_schedule (&p->timer, start_us + delay_us);
}

guint
mock_pending_count (void)
{
  return pendings.active.length;
}

/* Shutdown: drop every paused message ourselves, so libsoup never sees a
 * paused message at dispose time. */
void
mock_pending_shutdown (void)
{
  while (pendings.active.head != NULL)
    pending_close (pendings.active.head->data);
  while (pendings.free != NULL)
    {
      Pending *p = pendings.free;

      pendings.free = p->next_free;
      g_free (p);
    }
}
