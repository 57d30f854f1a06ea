/* test-tokenizer-vectors.c — sluice's byte-pair encoder against tiktoken's
 * own output: every line of $SLUICE_SHARED_TESTDATA/tiktoken/vectors.jsonl
 * (plain text, encode_ordinary) and vectors_allowed_special.jsonl
 * (allowed_special="all") must give the same token ids. Skipped (77)
 * without the shared testdata.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <sluice.h>

static char *vectors_dir;

/* The "text" member of a vector line, with its length: JSON escapes
 * decoded, NULs kept. */
static char *
decode_text (const char *line,
             gsize      *length)
{
  const char *p = strstr (line, "\"text\":");
  GString *out = g_string_new (NULL);

  g_assert_nonnull (p);
  p += strlen ("\"text\":");
  while (*p == ' ')
    p++;
  g_assert_true (*p == '"');
  for (p++; *p != '"'; p++)
    {
      gunichar c;

      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }
      switch (*++p)
        {
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'b': g_string_append_c (out, '\b'); break;
        case 'f': g_string_append_c (out, '\f'); break;
        case 'u':
          c = g_ascii_strtoull ((char[]) { p[1], p[2], p[3], p[4], 0 }, NULL, 16);
          p += 4;
          if (c >= 0xd800 && c < 0xdc00 && p[1] == '\\' && p[2] == 'u')
            {
              gunichar low = g_ascii_strtoull ((char[]) { p[3], p[4], p[5], p[6], 0 }, NULL, 16);

              c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
              p += 6;
            }
          if (c == 0)
            g_string_append_len (out, "", 1);
          else
            g_string_append_unichar (out, c);
          break;
        default: g_string_append_c (out, *p); break;   /* \" \\ \/ */
        }
    }
  *length = out->len;
  return g_string_free (out, FALSE);
}

static void
check_file (const char          *name,
            SluiceSpecialTokens  special)
{
  g_autofree char *path = g_build_filename (vectors_dir, name, NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  guint total = 0, passed = 0;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *vector;
      JsonArray *expected;
      g_autofree char *raw_text = NULL;
      SluiceTokenizer *tokenizer;
      g_autofree guint32 *tokens = NULL;
      g_autofree char *decoded = NULL;
      gsize n = 0, text_len, decoded_len = 0;
      const char *input;
      gboolean same;

      if (*lines[i] == '\0')
        continue;
      total++;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, &error));
      vector = json_node_get_object (json_parser_get_root (parser));
      tokenizer = sluice_tokenizer_get (json_object_get_string_member (vector, "encoding"), &error);
      g_assert_no_error (error);
      /* json-glib ends strings at a NUL; one text is "\u0000". */
      input = raw_text = decode_text (lines[i], &text_len);
      g_assert_nonnull (input);
      if (strlen (input) == text_len)   /* the decoder agrees with json-glib */
        g_assert_cmpstr (input, ==, json_object_get_string_member (vector, "text"));
      expected = json_object_get_array_member (vector, "tokens");
      tokens = sluice_tokenizer_encode (tokenizer, input, text_len, special, &n, &error);
      g_assert_no_error (error);
      same = n == json_array_get_length (expected);
      for (gsize t = 0; same && t < n; t++)
        same = tokens[t] == (guint32) json_array_get_int_element (expected, t);
      if (same)
        passed++;
      else
        {
          GString *got = g_string_new (NULL);

          for (gsize t = 0; t < n; t++)
            g_string_append_printf (got, "%s%u", t ? "," : "", tokens[t]);
          g_test_message ("%s:%u: %s: got [%s] for %s", name, i + 1,
                          json_object_get_string_member (vector, "encoding"), got->str, lines[i]);
          g_string_free (got, TRUE);
        }
      /* decode(encode(text)) == text */
      decoded = sluice_tokenizer_decode (tokenizer, tokens, n, &decoded_len);
      g_assert_nonnull (decoded);
      g_assert_cmpmem (decoded, decoded_len, input, text_len);
    }
  g_test_message ("%s: %u of %u vectors give tiktoken's token ids", name, passed, total);
  g_print ("# %s: %u/%u passed\n", name, passed, total);
  g_assert_cmpuint (total, >, 0);
  g_assert_cmpuint (passed, ==, total);
}

static void
test_vectors (void)
{
  check_file ("vectors.jsonl", SLUICE_SPECIAL_TOKENS_AS_TEXT);
}

static void
test_vectors_allowed_special (void)
{
  check_file ("vectors_allowed_special.jsonl", SLUICE_SPECIAL_TOKENS_ALLOW);
}

int
main (int   argc,
      char *argv[])
{
  const char *shared = g_getenv ("SLUICE_SHARED_TESTDATA");
  g_autofree char *probe = NULL;

  g_test_init (&argc, &argv, NULL);
  vectors_dir = g_build_filename (shared != NULL ? shared : "../shared/testdata", "tiktoken", NULL);
  probe = g_build_filename (vectors_dir, "vectors.jsonl", NULL);
  if (!g_file_test (probe, G_FILE_TEST_IS_REGULAR))
    {
      g_print ("1..0 # SKIP the tiktoken vectors are not there (%s); "
               "set SLUICE_SHARED_TESTDATA to the shared testdata folder\n", probe);
      return 77;
    }
  g_test_add_func ("/tokenizer/vectors", test_vectors);
  g_test_add_func ("/tokenizer/vectors-allowed-special", test_vectors_allowed_special);
  return g_test_run ();
}
