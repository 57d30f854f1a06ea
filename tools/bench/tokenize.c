/* tokenize.c — megabytes per second of sluice's tokenizer on one text.
 *
 *   tokenize-client TEXT_FILE ENCODING [ROUNDS]
 *
 * The rank file is loaded (and the regex compiled) before the clock
 * starts; each round encodes the whole file as plain text (special-token
 * text as ordinary text, tiktoken's encode_ordinary) and keeps the ids.
 * The best round is printed: the machines are shared, and the best round
 * is the least disturbed one.
 *
 * Prints "sluice ENCODING bytes B tokens N MB/s R load_ms L ids H", L
 * being the time to load the rank file and compile the pattern and H a
 * checksum of the token ids (h = h * 31 + id, modulo 2^32), so that the
 * benchmark compares ids, not only their number.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sluice.h>

#include <stdio.h>
#include <stdlib.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  SluiceTokenizer *tokenizer;
  gsize size = 0, n_tokens = 0;
  guint32 checksum = 0;
  guint rounds;
  gdouble best = 0, load_ms;
  gint64 load_start;

  if (argc < 3)
    {
      fprintf (stderr, "usage: %s TEXT_FILE ENCODING [ROUNDS]\n", argv[0]);
      return 2;
    }
  rounds = argc > 3 ? (guint) atoi (argv[3]) : 5;
  if (!g_file_get_contents (argv[1], &text, &size, &error))
    {
      fprintf (stderr, "tokenize-client: %s\n", error->message);
      return 1;
    }
  load_start = g_get_monotonic_time ();
  tokenizer = sluice_tokenizer_get (argv[2], &error);
  load_ms = (g_get_monotonic_time () - load_start) / 1e3;
  if (tokenizer == NULL)
    {
      fprintf (stderr, "tokenize-client: %s\n", error->message);
      return 1;
    }
  for (guint round = 0; round < MAX (rounds, 1); round++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autofree guint32 *tokens = sluice_tokenizer_encode (tokenizer, text, size, SLUICE_SPECIAL_TOKENS_AS_TEXT,
                                                            &n_tokens, NULL);
      gdouble seconds = (g_get_monotonic_time () - start) / 1e6;

      best = MAX (best, size / 1e6 / seconds);
      checksum = 0;
      for (gsize i = 0; i < n_tokens; i++)
        checksum = checksum * 31 + tokens[i];
    }
  printf ("sluice %s bytes %" G_GSIZE_FORMAT " tokens %" G_GSIZE_FORMAT " MB/s %.2f load_ms %.1f ids %08x\n",
          argv[2], size, n_tokens, best, load_ms, checksum);
  return 0;
}
