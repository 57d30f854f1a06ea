/* sluice-http.c — the shared libsoup session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-http"

#include "sluice.h"

#include <stdlib.h>

#define DEFAULT_MAX_CONNS 1024
/* A last resort only: the call stage cancels attempts on its own deadlines. */
#define SOCKET_TIMEOUT_S 300
#define IDLE_TIMEOUT_S 60

SoupSession *
sluice_http_get_session (void)
{
  static SoupSession *session;

  if (session == NULL)
    {
      const char *env = g_getenv ("SLUICE_MAX_CONNS");
      int max_conns = env != NULL ? atoi (env) : DEFAULT_MAX_CONNS;

      if (max_conns <= 0)
        max_conns = DEFAULT_MAX_CONNS;

      /* libsoup 3.2 allows 2 connections per host unless told otherwise,
       * which would serialize a batch against one provider. */
      session = soup_session_new_with_options ("max-conns", max_conns,
                                               "max-conns-per-host", max_conns,
                                               "timeout", SOCKET_TIMEOUT_S,
                                               "idle-timeout", IDLE_TIMEOUT_S,
                                               "user-agent", "sluice/" SLUICE_VERSION,
                                               NULL);
    }
  return session;
}

gint64
sluice_http_parse_retry_after (SoupMessageHeaders *headers)
{
  const char *value;

  if (headers == NULL)
    return -1;

  value = soup_message_headers_get_one (headers, "retry-after-ms");
  if (value != NULL)
    {
      char *end = NULL;
      double ms = g_ascii_strtod (value, &end);

      if (end != value && ms >= 0 && ms < 1e9)
        return (gint64) ms;
    }

  value = soup_message_headers_get_one (headers, "Retry-After");
  if (value != NULL)
    {
      char *end = NULL;
      double seconds;
      g_autoptr(GDateTime) date = NULL;

      while (g_ascii_isspace (*value))
        value++;
      seconds = g_ascii_strtod (value, &end);
      if (end != value && seconds >= 0 && seconds < 1e7)
        {
          while (g_ascii_isspace (*end))
            end++;
          if (*end == '\0')
            return (gint64) (seconds * 1000);
        }

      date = soup_date_time_new_from_http_string (value);
      if (date != NULL)
        {
          gint64 delta_us = g_date_time_to_unix (date) * G_USEC_PER_SEC - g_get_real_time ();

          return delta_us > 0 ? delta_us / 1000 : 0;
        }
    }

  return -1;
}

/* ---- bounded reads ---------------------------------------------------------- */

#define READ_CHUNK (16 * 1024)

typedef struct
{
  GInputStream *stream;
  GByteArray   *body;
  gsize         max_bytes;
  guint8        chunk[READ_CHUNK];
} Read;

static void
read_free (Read *read)
{
  g_clear_object (&read->stream);
  g_clear_pointer (&read->body, g_byte_array_unref);
  g_free (read);
}

static void read_next (GTask *task);

static void
on_chunk (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Read *read = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (n == 0)
    {
      /* The whole body was read: the connection can serve the next request. */
      g_input_stream_close (read->stream, NULL, NULL);
      g_task_return_pointer (task, g_byte_array_free_to_bytes (g_steal_pointer (&read->body)),
                             (GDestroyNotify) g_bytes_unref);
      return;
    }
  if (read->body->len + (gsize) n > read->max_bytes)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                               "the response body is larger than %" G_GSIZE_FORMAT " MB",
                               read->max_bytes >> 20);
      return;
    }
  g_byte_array_append (read->body, read->chunk, (guint) n);
  read_next (g_steal_pointer (&task));
}

static void
read_next (GTask *task)
{
  Read *read = g_task_get_task_data (task);

  g_input_stream_read_async (read->stream, read->chunk, sizeof read->chunk, G_PRIORITY_DEFAULT,
                             g_task_get_cancellable (task), on_chunk, task);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Read *read = g_task_get_task_data (task);
  GError *error = NULL;

  read->stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (read->stream == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  read_next (task);
}

void
sluice_http_send_and_read_async (SoupMessage         *message,
                                 gsize                max_bytes,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Read *read = g_new0 (Read, 1);

  g_task_set_source_tag (task, sluice_http_send_and_read_async);
  read->body = g_byte_array_new ();
  read->max_bytes = max_bytes;
  g_task_set_task_data (task, read, (GDestroyNotify) read_free);
  soup_session_send_async (sluice_http_get_session (), message, G_PRIORITY_DEFAULT,
                           cancellable, on_sent, task);
}

GBytes *
sluice_http_send_and_read_finish (GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
