/* sluice-http.c — the shared libsoup session.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-http"

#include "sluice.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_CONNS 1024
/* A last resort only: the call stage cancels attempts on its own deadlines. */
#define SOCKET_TIMEOUT_S 300
#define IDLE_TIMEOUT_S 60
/* A year: any Retry-After beyond it counts as that long. */
#define RETRY_AFTER_CAP_MS (365.0 * 24 * 3600 * 1000)

static int
env_limit (const char *name,
           int         fallback)
{
  const char *env = g_getenv (name);
  guint64 value;

  if (env == NULL)
    return fallback;
  if (!g_ascii_string_to_unsigned (env, 10, 1, 100000, &value, NULL))
    {
      /* Said once per variable, not per session. */
      static GHashTable *warned;

      if (warned == NULL)
        warned = g_hash_table_new (g_str_hash, g_str_equal);
      if (g_hash_table_add (warned, (gpointer) g_intern_string (name)))
        g_printerr ("sluice: %s must be a whole number from 1 to 100000; using %d\n", name, fallback);
      return fallback;
    }
  return (int) value;
}

SoupSession *
sluice_http_session_new (guint max_conns,
                         guint max_conns_per_host)
{
  if (max_conns == 0)
    max_conns = (guint) env_limit ("SLUICE_MAX_CONNS", DEFAULT_MAX_CONNS);
  if (max_conns_per_host == 0)
    max_conns_per_host = (guint) env_limit ("SLUICE_MAX_CONNS_PER_HOST", (int) max_conns);

  /* libsoup 3.2 allows 2 connections per host unless told otherwise,
   * which would serialize a batch against one provider. */
  return soup_session_new_with_options ("max-conns", (int) max_conns,
                                        "max-conns-per-host", (int) MIN (max_conns_per_host, max_conns),
                                        "timeout", SOCKET_TIMEOUT_S,
                                        "idle-timeout", IDLE_TIMEOUT_S,
                                        "user-agent", "sluice/" SLUICE_VERSION,
                                        NULL);
}

SoupSession *
sluice_http_get_session (void)
{
  static SoupSession *session;

  if (session == NULL)
    session = sluice_http_session_new (0, 0);
  return session;
}

SoupSession *
sluice_http_get_stream_session (void)
{
  static SoupSession *session;

  if (session == NULL)
    session = sluice_http_session_new (0, 0);
  return session;
}

SluiceErrorCode
sluice_http_classify_status (guint status)
{
  switch (status)
    {
    case 429:
      return SLUICE_ERROR_RATE_LIMITED;
    case 401:
    case 403:
      return SLUICE_ERROR_AUTH;
    case 404:
      return SLUICE_ERROR_NOT_FOUND;
    case 408:
    case 504:
      return SLUICE_ERROR_TIMEOUT;
    case 503:
    case 529:
      return SLUICE_ERROR_OVERLOADED;
    default:
      break;
    }
  if (status >= 500)
    return SLUICE_ERROR_SERVER;
  /* Other 4xx; a redirect (not followed: it would carry the key to
   * another host) or a stray 1xx means the base_url is wrong. */
  return SLUICE_ERROR_BAD_REQUEST;
}

char *
sluice_http_describe_content_type (SoupMessageHeaders *headers)
{
  const char *type = headers != NULL ? soup_message_headers_get_content_type (headers, NULL) : NULL;

  /* The server wrote it: one short line, whatever it holds. */
  return type != NULL ? sluice_text_excerpt (type, -1, 80, NULL) : g_strdup ("no content type");
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
      char *end = (char *) value;
      double ms = g_ascii_isdigit (*value) && strpbrk (value, "xXnNiI") == NULL ? g_ascii_strtod (value, &end) : -1;

      /* Larger than a year is "not soon": capped, it still tells the call
       * stage that the wait is longer than it will sit through. */
      if (end != value && ms >= 0)
        return (gint64) MIN (ms, RETRY_AFTER_CAP_MS);
    }

  value = soup_message_headers_get_one (headers, "Retry-After");
  if (value != NULL)
    {
      char *end = NULL;
      double seconds;
      g_autoptr(GDateTime) date = NULL;

      while (g_ascii_isspace (*value))
        value++;
      /* Decimal only: strtod would also read hex, inf and nan. */
      seconds = g_ascii_isdigit (*value) && strpbrk (value, "xXnNiI") == NULL
        ? g_ascii_strtod (value, &end) : (end = (char *) value, -1);
      if (end != value && seconds >= 0)
        {
          while (g_ascii_isspace (*end))
            end++;
          if (*end == '\0')
            return (gint64) MIN (seconds * 1000, RETRY_AFTER_CAP_MS);
        }

      date = soup_date_time_new_from_http_string (value);
      if (date != NULL)
        {
          gint64 delta_us = g_date_time_to_unix (date) * G_USEC_PER_SEC - g_get_real_time ();

          return delta_us > 0 ? (gint64) MIN (delta_us / 1000, RETRY_AFTER_CAP_MS) : 0;
        }
    }

  return -1;
}

/* Go durations as OpenAI writes them in x-ratelimit-reset-*: "1s", "6m0s",
 * "20ms", "1m30.5s". Rounded up, so a retry is never early. */
static gboolean
parse_go_duration (const char *text,
                   gint64     *out_ms)
{
  static const struct { const char *unit; gdouble ms; } units[] = {
    { "ms", 1 }, { "us", 1e-3 }, { "µs", 1e-3 }, { "ns", 1e-6 },
    { "h", 3600e3 }, { "m", 60e3 }, { "s", 1e3 },
  };
  gdouble total = 0;
  const char *p = text;

  if (p == NULL)
    return FALSE;
  while (g_ascii_isspace (*p))
    p++;
  if (*p == '\0')
    return FALSE;

  while (*p != '\0' && !g_ascii_isspace (*p))
    {
      char *end = NULL;
      gdouble value;
      gsize i;

      if (!g_ascii_isdigit (*p) && *p != '.')
        return FALSE;
      value = g_ascii_strtod (p, &end);
      if (end == p || !isfinite (value) || value < 0)
        return FALSE;
      p = end;
      if (value == 0 && (*p == '\0' || g_ascii_isspace (*p)))
        break;   /* Go writes a zero duration as "0" */
      for (i = 0; i < G_N_ELEMENTS (units); i++)
        if (g_str_has_prefix (p, units[i].unit))
          break;
      if (i == G_N_ELEMENTS (units))
        return FALSE;
      total += value * units[i].ms;
      p += strlen (units[i].unit);
    }

  if (total > 1e12)
    return FALSE;
  *out_ms = (gint64) ceil (total);
  return TRUE;
}

/* A reset as OpenAI writes it (a Go duration) or Anthropic (an RFC 3339
 * time), in milliseconds from now, rounded up. */
static gboolean
parse_reset (const char *value,
             GDateTime  *now,
             gint64     *out_ms)
{
  g_autoptr(GDateTime) at = NULL;

  if (parse_go_duration (value, out_ms))
    return TRUE;
  if (value == NULL || (at = g_date_time_new_from_iso8601 (value, NULL)) == NULL)
    return FALSE;
  *out_ms = MAX (0, (gint64) ceil (g_date_time_difference (at, now) / 1000.0));
  return TRUE;
}

/* A count of what is left: a plain decimal up to SLUICE_MAX_COUNT, else -1.
 * libsoup has trimmed the value already. */
static gint64
parse_remaining (const char *value)
{
  guint64 n;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 0, SLUICE_MAX_COUNT, &n, NULL))
    return -1;
  return (gint64) n;
}

/* The limit a header names, and whether it is the reset or what remains:
 * x-ratelimit-{remaining,reset}-LIMIT or anthropic-ratelimit-LIMIT-{remaining,reset}. */
static char *
rate_limit_name (const char *header,
                 gboolean   *out_reset)
{
  gsize len = strlen (header);

  if (g_ascii_strncasecmp (header, "x-ratelimit-remaining-", 22) == 0 && len > 22)
    return *out_reset = FALSE, g_ascii_strdown (header + 22, -1);
  if (g_ascii_strncasecmp (header, "x-ratelimit-reset-", 18) == 0 && len > 18)
    return *out_reset = TRUE, g_ascii_strdown (header + 18, -1);
  if (g_ascii_strncasecmp (header, "anthropic-ratelimit-", 20) != 0)
    return NULL;
  if (len > 30 && g_ascii_strcasecmp (header + len - 10, "-remaining") == 0)
    return *out_reset = FALSE, g_ascii_strdown (header + 20, len - 30);
  if (len > 26 && g_ascii_strcasecmp (header + len - 6, "-reset") == 0)
    return *out_reset = TRUE, g_ascii_strdown (header + 20, len - 26);
  return NULL;
}

void
sluice_http_parse_rate_limits (SoupMessageHeaders *headers,
                               gint64             *out_remaining_requests,
                               gint64             *out_remaining_tokens,
                               gint64             *out_reset_ms)
{
  g_autoptr(GHashTable) remaining = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) resets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  gint64 soonest = -1, exhausted = -1;
  SoupMessageHeadersIter iter;
  GHashTableIter reset_iter;
  const char *name, *value;
  gpointer limit, ms;

  *out_remaining_requests = *out_remaining_tokens = *out_reset_ms = -1;
  if (headers == NULL)
    return;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      gboolean is_reset;
      char *which = rate_limit_name (name, &is_reset);
      gint64 n;

      if (which == NULL)
        continue;
      if (is_reset && parse_reset (value, now, &n))
        g_hash_table_replace (resets, which, g_memdup2 (&n, sizeof n));
      else if (!is_reset && (n = parse_remaining (value)) >= 0)
        g_hash_table_replace (remaining, which, GINT_TO_POINTER ((gint) n + 1)   /* n <= SLUICE_MAX_COUNT */);
      else
        g_free (which);
    }

  if (g_hash_table_contains (remaining, "requests"))
    *out_remaining_requests = GPOINTER_TO_INT (g_hash_table_lookup (remaining, "requests")) - 1;
  if (g_hash_table_contains (remaining, "tokens"))
    *out_remaining_tokens = GPOINTER_TO_INT (g_hash_table_lookup (remaining, "tokens")) - 1;

  /* The reset of an exhausted limit counts, the latest of them; else the soonest. */
  g_hash_table_iter_init (&reset_iter, resets);
  while (g_hash_table_iter_next (&reset_iter, &limit, &ms))
    {
      gint64 reset = *(gint64 *) ms;

      soonest = soonest < 0 ? reset : MIN (soonest, reset);
      if (GPOINTER_TO_INT (g_hash_table_lookup (remaining, limit)) == 1)
        exhausted = MAX (exhausted, reset);
    }
  *out_reset_ms = exhausted >= 0 ? exhausted : soonest;
}

#define READ_CHUNK (16 * 1024)

/* ---- bounded reads, of whole bodies and of event streams ------------------------- */

typedef struct
{
  SoupMessage     *message;
  SluiceSseParser *parser;
  GInputStream    *stream;
  GByteArray      *body;           /* the answer, when it is not a stream */
  gboolean         is_stream;
  gsize            max_bytes;
  gsize            n_bytes;
  gint64           idle_timeout_ms;
  GSource         *idle_timer;
  gboolean         timed_out;
  /* Before the connection, then before the first body byte. */
  gint64           started_us;
  gint64           first_byte_timeout_ms;
  GSource         *phase_timer;
  gulong           wrote_headers_id;
  char            *timeout_message;
  /* Cancelled by the caller's cancellable and by the idle timer. */
  GCancellable    *cancellable;
  GCancellable    *caller_cancellable;
  gulong           cancelled_id;
  guint8           chunk[READ_CHUNK];
} Stream;

static void
stop_idle_timer (Stream *stream)
{
  if (stream->idle_timer != NULL)
    {
      g_source_destroy (stream->idle_timer);
      g_clear_pointer (&stream->idle_timer, g_source_unref);
    }
}

static void
stop_phase_timer (Stream *stream)
{
  if (stream->phase_timer != NULL)
    {
      g_source_destroy (stream->phase_timer);
      g_clear_pointer (&stream->phase_timer, g_source_unref);
    }
}

static void
stream_free (Stream *stream)
{
  stop_idle_timer (stream);
  stop_phase_timer (stream);
  if (stream->wrote_headers_id != 0)
    g_signal_handler_disconnect (stream->message, stream->wrote_headers_id);
  g_free (stream->timeout_message);
  if (stream->caller_cancellable != NULL)
    g_cancellable_disconnect (stream->caller_cancellable, stream->cancelled_id);
  g_clear_object (&stream->caller_cancellable);
  g_clear_object (&stream->cancellable);
  /* Closing a body not read to its end closes the connection. */
  g_clear_object (&stream->stream);
  g_clear_object (&stream->message);
  g_clear_pointer (&stream->body, g_byte_array_unref);
  g_free (stream);
}

static gboolean
on_phase_timeout (gpointer user_data)
{
  Stream *stream = user_data;

  g_clear_pointer (&stream->phase_timer, g_source_unref);
  stream->timed_out = TRUE;
  g_cancellable_cancel (stream->cancellable);
  return G_SOURCE_REMOVE;
}

static void
start_phase_timer (Stream *stream,
                   gint64  ms,
                   char   *message)
{
  stop_phase_timer (stream);
  g_free (stream->timeout_message);
  stream->timeout_message = message;
  stream->phase_timer = g_timeout_source_new ((guint) CLAMP (ms, 0, G_MAXUINT));
  g_source_set_callback (stream->phase_timer, on_phase_timeout, stream, NULL);
  g_source_attach (stream->phase_timer, g_main_context_get_thread_default ());
}

/* The first body byte ends the wait for it; the idle timeout takes over. */
static void
start_first_byte_timer (Stream *stream)
{
  gint64 spent_ms = (g_get_monotonic_time () - stream->started_us) / 1000;

  stop_phase_timer (stream);
  if (stream->first_byte_timeout_ms > 0)
    start_phase_timer (stream, stream->first_byte_timeout_ms - spent_ms,
                       g_strdup_printf ("no first byte within %" G_GINT64_FORMAT " ms",
                                        stream->first_byte_timeout_ms));
}

/* The request's head went out: the connection is there. */
static void
on_wrote_headers (SoupMessage *message,
                  gpointer     user_data)
{
  Stream *stream = user_data;

  g_signal_handler_disconnect (message, stream->wrote_headers_id);
  stream->wrote_headers_id = 0;
  start_first_byte_timer (stream);
}

static gboolean
on_idle_timeout (gpointer user_data)
{
  Stream *stream = user_data;

  g_free (stream->timeout_message);
  stream->timeout_message = g_strdup_printf ("no data for %" G_GINT64_FORMAT " ms", stream->idle_timeout_ms);
  stream->timed_out = TRUE;
  g_cancellable_cancel (stream->cancellable);
  g_clear_pointer (&stream->idle_timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
start_idle_timer (Stream *stream)
{
  stop_idle_timer (stream);
  if (stream->idle_timeout_ms <= 0)
    return;
  stream->idle_timer = g_timeout_source_new ((guint) MIN (stream->idle_timeout_ms, G_MAXUINT));
  g_source_set_callback (stream->idle_timer, on_idle_timeout, stream, NULL);
  g_source_attach (stream->idle_timer, g_main_context_get_thread_default ());
}

static void
on_caller_cancelled (GCancellable *caller,
                     gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void
stream_return_error (GTask  *task,
                     GError *error)
{
  Stream *stream = g_task_get_task_data (task);

  if (stream->timed_out)
    {
      g_clear_error (&error);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s", stream->timeout_message);
    }
  else if (stream->caller_cancellable != NULL && g_cancellable_is_cancelled (stream->caller_cancellable))
    {
      g_clear_error (&error);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request was cancelled");
    }
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static void stream_read_next (GTask *task);

static void
on_stream_chunk (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  Stream *stream = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  stop_idle_timer (stream);
  if (n < 0)
    {
      stream_return_error (task, error);
      return;
    }
  stop_phase_timer (stream);

  if (n == 0)
    {
      g_input_stream_close (stream->stream, NULL, NULL);
      if (stream->is_stream && !sluice_sse_parser_finish (stream->parser, &error) && error != NULL)
        {
          stream_return_error (task, error);
          return;
        }
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }

  if (stream->n_bytes + (gsize) n > stream->max_bytes)
    {
      stream_return_error (task, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                              "the response body is larger than %" G_GSIZE_FORMAT " bytes",
                                              stream->max_bytes));
      return;
    }
  stream->n_bytes += (gsize) n;

  if (!stream->is_stream)
    g_byte_array_append (stream->body, stream->chunk, (guint) n);
  else if (!sluice_sse_parser_feed (stream->parser, (const char *) stream->chunk, (gsize) n, &error))
    {
      if (error != NULL)
        stream_return_error (task, error);
      else
        {
          /* The provider has what it needs (or gave up on the stream). */
          g_task_return_boolean (task, TRUE);
          g_object_unref (task);
        }
      return;
    }
  stream_read_next (task);
}

static void
stream_read_next (GTask *task)
{
  Stream *stream = g_task_get_task_data (task);

  start_idle_timer (stream);
  g_input_stream_read_async (stream->stream, stream->chunk, sizeof stream->chunk, G_PRIORITY_DEFAULT,
                             stream->cancellable, on_stream_chunk, task);
}

static void
on_stream_sent (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  Stream *stream = g_task_get_task_data (task);
  GError *error = NULL;
  const char *type;

  stream->stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (stream->stream == NULL)
    {
      stream_return_error (task, error);
      return;
    }

  type = soup_message_headers_get_content_type (soup_message_get_response_headers (stream->message), NULL);
  stream->is_stream = stream->parser != NULL &&
                      SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (stream->message)) &&
                      type != NULL && g_ascii_strcasecmp (type, "text/event-stream") == 0;
  if (!stream->is_stream)
    stream->body = g_byte_array_new ();
  stream_read_next (task);
}

typedef struct
{
  gint64 connect_ms;
  gint64 first_byte_ms;
} PhaseTimeouts;

static GQuark
phase_timeouts_quark (void)
{
  return g_quark_from_static_string ("sluice-http-phase-timeouts");
}

void
sluice_http_message_set_phase_timeouts (SoupMessage *message,
                                        gint64       connect_timeout_ms,
                                        gint64       first_byte_timeout_ms)
{
  PhaseTimeouts *timeouts = g_new (PhaseTimeouts, 1);

  g_return_if_fail (SOUP_IS_MESSAGE (message));
  timeouts->connect_ms = connect_timeout_ms;
  timeouts->first_byte_ms = first_byte_timeout_ms;
  g_object_set_qdata_full (G_OBJECT (message), phase_timeouts_quark (), timeouts, g_free);
}

static void
start_phase_timers (Stream *stream)
{
  PhaseTimeouts *timeouts = g_object_get_qdata (G_OBJECT (stream->message), phase_timeouts_quark ());

  if (timeouts == NULL)
    return;
  stream->first_byte_timeout_ms = timeouts->first_byte_ms;
  if (timeouts->connect_ms <= 0)
    {
      start_first_byte_timer (stream);
      return;
    }
  start_phase_timer (stream, timeouts->connect_ms,
                     g_strdup_printf ("no connection within %" G_GINT64_FORMAT " ms", timeouts->connect_ms));
  stream->wrote_headers_id = g_signal_connect (stream->message, "wrote-headers", G_CALLBACK (on_wrote_headers), stream);
}

static void
start_reading (SoupSession         *session,
               SoupMessage         *message,
               SluiceSseParser     *parser,
               gsize                max_bytes,
               gint64               idle_timeout_ms,
               GCancellable        *cancellable,
               gpointer             source_tag,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Stream *stream = g_new0 (Stream, 1);

  g_task_set_source_tag (task, source_tag);
  stream->message = g_object_ref (message);
  stream->parser = parser;
  stream->max_bytes = max_bytes;
  stream->idle_timeout_ms = idle_timeout_ms;
  stream->cancellable = g_cancellable_new ();
  stream->started_us = g_get_monotonic_time ();
  g_task_set_task_data (task, stream, (GDestroyNotify) stream_free);
  start_phase_timers (stream);

  if (cancellable != NULL)
    {
      stream->caller_cancellable = g_object_ref (cancellable);
      /* Runs at once when already cancelled. */
      stream->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                                    g_object_ref (stream->cancellable), g_object_unref);
    }

  soup_session_send_async (session, message, G_PRIORITY_DEFAULT, stream->cancellable, on_stream_sent, task);
}

void
sluice_http_send_and_read_async (SoupSession         *session,
                                 SoupMessage         *message,
                                 gsize                max_bytes,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (SOUP_IS_MESSAGE (message));

  start_reading (session != NULL ? session : sluice_http_get_session (), message, NULL, max_bytes, 0,
                 cancellable, sluice_http_send_and_read_async, callback, user_data);
}

GBytes *
sluice_http_send_and_read_finish (GAsyncResult  *result,
                                  GError       **error)
{
  Stream *stream;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  stream = g_task_get_task_data (G_TASK (result));
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  return g_byte_array_free_to_bytes (g_steal_pointer (&stream->body));
}

void
sluice_http_stream_async (SoupSession         *session,
                          SoupMessage         *message,
                          SluiceSseParser     *parser,
                          gsize                max_bytes,
                          gint64               idle_timeout_ms,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (SOUP_IS_MESSAGE (message));
  g_return_if_fail (parser != NULL);

  start_reading (session != NULL ? session : sluice_http_get_stream_session (), message, parser,
                 max_bytes, idle_timeout_ms, cancellable, sluice_http_stream_async, callback, user_data);
}

gboolean
sluice_http_stream_finish (GAsyncResult  *result,
                           GBytes       **out_body,
                           GError       **error)
{
  Stream *stream;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  stream = g_task_get_task_data (G_TASK (result));
  if (out_body != NULL)
    *out_body = NULL;
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  if (out_body != NULL && stream->body != NULL)
    *out_body = g_byte_array_free_to_bytes (g_steal_pointer (&stream->body));
  return TRUE;
}
