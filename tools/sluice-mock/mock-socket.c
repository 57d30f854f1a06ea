/* mock-socket.c: the client sockets libsoup has shown us
 *
 * Two libsoup 3.2.3 leaks are worked around by the sweep below:
 * - a keep-alive connection whose client closes it while idle is never
 *   disconnected (the EOF is read by a message that has no completion
 *   callback yet), so its descriptor stays open until the server is freed;
 * - the listener never drops the reference g_socket_accept () gave it, so
 *   every accepted GSocket object outlives its connection.
 * Remembering every socket also counts the connections for /mock/stats.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-common.h"

#include <errno.h>
#include <sys/socket.h>

static struct {
  GHashTable *sockets;       /* GSocket, owned */
  GQuark      busy_quark;
  guint64     accepted;
  /* libsoup 3.2's listen_watch () keeps the GSocket from g_socket_accept ()
   * without ever releasing it. Once libsoup and we are done with a closed
   * socket, a count of exactly one reference beyond ours is that orphan;
   * we drop it then, so the object is freed. Only for the version whose
   * source was checked: anywhere else an extra reference could be
   * someone's. */
  gboolean    orphan_ref_fix;
} socks;

void
mock_sockets_init (void)
{
  socks.sockets = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  socks.busy_quark = g_quark_from_static_string ("sluice-mock-busy");
  socks.orphan_ref_fix = soup_check_version (3, 2, 0) && !soup_check_version (3, 3, 0);
}

/* A socket leaves the table only once it is closed and libsoup let go of
 * it, so a socket not in the table is a connection we have not seen. */
gboolean
mock_sockets_track (GSocket *socket)
{
  if (socket == NULL || g_hash_table_contains (socks.sockets, socket))
    return FALSE;
  g_hash_table_add (socks.sockets, g_object_ref (socket));
  socks.accepted++;
  return TRUE;
}

guint64
mock_sockets_accepted (void)
{
  return socks.accepted;
}

void
mock_socket_mark_busy (GSocket *socket,
                       gint     delta)
{
  guint busy = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (socket), socks.busy_quark));

  g_object_set_qdata (G_OBJECT (socket), socks.busy_quark, GUINT_TO_POINTER (busy + delta));
}

/* TRUE when nobody but us (and libsoup 3.2's orphan reference) holds the
 * closed @socket any more: then it is released and forgotten. */
static gboolean
socket_release_if_unused (GSocket *socket)
{
  guint others = g_atomic_int_get (&G_OBJECT (socket)->ref_count) - 1;

  if (others == 0)
    return TRUE;
  if (others == 1 && socks.orphan_ref_fix)
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
void
mock_sockets_sweep (gboolean shutting_down)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, socks.sockets);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      GSocket *socket = key;
      char byte;
      gssize n;

      if (g_object_get_qdata (G_OBJECT (socket), socks.busy_quark) != NULL)
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

void
mock_sockets_shutdown (void)
{
  mock_sockets_sweep (TRUE);
  g_clear_pointer (&socks.sockets, g_hash_table_unref);
}

typedef struct {
  MockGoneFunc gone;
  gpointer     data;
} Watch;

static gboolean
watch_event (GSocket      *socket,
             GIOCondition  condition G_GNUC_UNUSED,
             gpointer      user_data)
{
  Watch *watch = user_data;
  char byte;
  gssize n;

  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  /* n > 0 is a pipelined request: the client is still there. Stop watching
   * (the socket would stay readable); the owner's reference keeps the
   * destroyed source valid until it lets go. */
  if (n <= 0)
    watch->gone (watch->data);
  return G_SOURCE_REMOVE;
}

GSource *
mock_socket_watch (GSocket     *socket,
                   MockGoneFunc gone,
                   gpointer     data)
{
  GSource *source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  Watch *watch = g_new (Watch, 1);

  watch->gone = gone;
  watch->data = data;
  g_source_set_callback (source, G_SOURCE_FUNC (watch_event), watch, g_free);
  g_source_attach (source, NULL);
  return source;
}
