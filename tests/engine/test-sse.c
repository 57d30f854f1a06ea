/* test-sse.c — the event-stream parser, fed whole and split at every byte.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sluice.h>

#include <string.h>

typedef struct
{
  GString *log;      /* "event|data\n" per event */
  guint    stop_after;
  guint    n;
} Events;

static gboolean
on_event (const char *event,
          const char *data,
          gsize       data_len,
          gpointer    user_data)
{
  Events *events = user_data;

  g_assert_cmpuint (strlen (data), ==, data_len);
  g_string_append_printf (events->log, "%s|%s\n", event, data);
  events->n++;
  return events->stop_after == 0 || events->n < events->stop_after;
}

/* Parses text fed in pieces of @piece bytes (0: whole); returns the log. */
static char *
parse (const char *text,
       gsize       len,
       gsize       piece,
       char      **out_stray)
{
  Events events = { g_string_new (NULL), 0, 0 };
  g_autoptr(SluiceSseParser) parser = sluice_sse_parser_new (1 << 20, on_event, &events);
  g_autoptr(GError) error = NULL;

  if (piece == 0)
    piece = MAX (len, 1);
  for (gsize at = 0; at < len; at += piece)
    {
      g_assert_true (sluice_sse_parser_feed (parser, text + at, MIN (piece, len - at), &error));
      g_assert_no_error (error);
    }
  g_assert_true (sluice_sse_parser_finish (parser, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sluice_sse_parser_get_n_events (parser), ==, events.n);
  if (out_stray != NULL)
    *out_stray = g_strdup (sluice_sse_parser_get_stray_text (parser));
  return g_string_free (events.log, FALSE);
}

/* The same events whatever the split: whole, then every piece size from 1. */
static void
assert_parses (const char *text,
               const char *expected)
{
  gsize len = strlen (text);

  for (gsize piece = 0; piece <= MIN (len, 40); piece++)
    {
      g_autofree char *log = parse (text, len, piece, NULL);

      if (g_strcmp0 (log, expected) != 0)
        g_error ("split every %" G_GSIZE_FORMAT " bytes:\n%s\nexpected:\n%s", piece, log, expected);
    }
}

static void
test_line_ends (void)
{
  assert_parses ("data: a\n\ndata: b\n\n", "message|a\nmessage|b\n");
  assert_parses ("data: a\r\n\r\ndata: b\r\n\r\n", "message|a\nmessage|b\n");
  assert_parses ("data: a\r\rdata: b\r\r", "message|a\nmessage|b\n");
  /* Mixed, as proxies sometimes rewrite. */
  assert_parses ("data: a\r\n\ndata: b\n\r\n", "message|a\nmessage|b\n");
}

static void
test_fields (void)
{
  /* Several data lines join with \n; one leading space is dropped, not two. */
  assert_parses ("data: one\ndata:two\ndata:  three\n\n", "message|one\ntwo\n three\n");
  assert_parses ("event: message_start\ndata: {\"a\":1}\n\n", "message_start|{\"a\":1}\n");
  /* The event type lasts one event only. */
  assert_parses ("event: ping\ndata: x\n\ndata: y\n\n", "ping|x\nmessage|y\n");
  /* Comments, id and retry are not data; an event with no data is not dispatched. */
  assert_parses (": keep-alive\nid: 7\nretry: 10\ndata: z\n\n: bye\n\n", "message|z\n");
  assert_parses ("event: lonely\n\ndata: after\n\n", "message|after\n");
  /* "data" with no colon is an empty data line. */
  assert_parses ("data\n\n", "message|\n");
  /* A byte-order mark at the very start is skipped. */
  assert_parses ("\xEF\xBB\xBF" "data: bom\n\n", "message|bom\n");
}

static void
test_end_of_stream (void)
{
  /* Recorded streams often end without the blank line, or without the
   * last line break: the event is still delivered. */
  assert_parses ("data: a\n\ndata: last\n", "message|a\nmessage|last\n");
  assert_parses ("data: a\n\ndata: last", "message|a\nmessage|last\n");
  assert_parses ("data: a\r\n\r\ndata: last\r\n", "message|a\nmessage|last\n");
  assert_parses ("", "");
}

static void
test_stray_text (void)
{
  /* Gemini may end a stream with a bare JSON error object. */
  const char *text = "data: {\"x\":1}\r\n\r\n{\n  \"error\": {\"code\": 500}\n}\n";
  g_autofree char *stray = NULL;
  g_autofree char *log = parse (text, strlen (text), 3, &stray);

  g_assert_cmpstr (log, ==, "message|{\"x\":1}\n");
  g_assert_cmpstr (stray, ==, "{\n  \"error\": {\"code\": 500}\n}\n");
}

static void
test_limits_and_stop (void)
{
  Events events = { g_string_new (NULL), 2, 0 };
  g_autoptr(SluiceSseParser) parser = sluice_sse_parser_new (64, on_event, &events);
  g_autoptr(SluiceSseParser) small = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *big = g_strnfill (100, 'x');

  /* The callback stops the parser: no error, and no more events. */
  g_assert_false (sluice_sse_parser_feed (parser, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (events.log->str, ==, "message|1\nmessage|2\n");
  g_assert_false (sluice_sse_parser_feed (parser, "data: 4\n\n", 9, &error));
  g_assert_no_error (error);
  g_string_free (events.log, TRUE);

  /* A line longer than the limit, even without a line break yet. */
  events = (Events) { g_string_new (NULL), 0, 0 };
  small = sluice_sse_parser_new (64, on_event, &events);
  g_assert_false (sluice_sse_parser_feed (small, big, 100, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_string_free (events.log, TRUE);
}

/* Every recorded stream gives the same events however it is split. */
static void
test_recorded_streams (void)
{
  const char *shared = g_getenv ("SLUICE_SHARED_TESTDATA");
  g_autofree char *root = g_build_filename (shared != NULL ? shared : "../shared/testdata",
                                            "provider-samples", NULL);
  static const char * const providers[] = { "openai", "anthropic", "gemini" };
  guint files = 0;

  if (!g_file_test (root, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("the recorded provider samples are not there; set SLUICE_SHARED_TESTDATA");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (providers); i++)
    {
      g_autofree char *dir_path = g_build_filename (root, providers[i], NULL);
      g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
      const char *name;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (dir_path, name, NULL);
          g_autofree char *text = NULL;
          g_autofree char *whole = NULL;
          gsize len;

          if (!g_str_has_suffix (name, ".sse"))
            continue;
          g_assert_true (g_file_get_contents (path, &text, &len, NULL));
          whole = parse (text, len, 0, NULL);
          g_assert_cmpuint (strlen (whole), >, 0);
          for (gsize piece = 1; piece <= 64; piece++)
            {
              g_autofree char *split = parse (text, len, piece, NULL);

              g_assert_cmpstr (split, ==, whole);
            }
          files++;
        }
    }
  g_test_message ("%u recorded streams", files);
  g_assert_cmpuint (files, >=, 10);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sse/line-ends", test_line_ends);
  g_test_add_func ("/sse/fields", test_fields);
  g_test_add_func ("/sse/end-of-stream", test_end_of_stream);
  g_test_add_func ("/sse/stray-text", test_stray_text);
  g_test_add_func ("/sse/limits-and-stop", test_limits_and_stop);
  g_test_add_func ("/sse/recorded-streams", test_recorded_streams);
  return g_test_run ();
}
