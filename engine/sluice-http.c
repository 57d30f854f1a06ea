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
