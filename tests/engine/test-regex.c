/* test-regex.c — SluiceRegex's find: every match from an offset, \K,
 * empty matches, case folding beyond ASCII, and giving up.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice.h"
#include "sluice-regex-private.h"

#include <string.h>

/* Every match of @pattern in @subject, as "start-end" pairs. */
static char *
all_matches (const char       *pattern,
             SluiceRegexFlags  flags,
             const char       *subject)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceRegex) regex = sluice_regex_new_full (pattern, flags, &error);
  GString *out = g_string_new (NULL);
  gsize length = strlen (subject), from = 0, start, end;

  g_assert_no_error (error);
  while (sluice_regex_find (regex, subject, length, from, &start, &end) == SLUICE_REGEX_FOUND)
    {
      g_string_append_printf (out, "%s%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT, out->len > 0 ? " " : "", start, end);
      from = end > start ? end : start + 1;
      if (from > length)
        break;
    }
  return g_string_free (out, FALSE);
}

static void
test_find (void)
{
  g_autofree char *words = all_matches ("[a-z]+", SLUICE_REGEX_DEFAULT, "ab 12 cde f");
  g_autofree char *keep_out = all_matches ("key=\\K[0-9]+", SLUICE_REGEX_DEFAULT, "key=12 x key=345");
  g_autofree char *empty = all_matches ("x*", SLUICE_REGEX_DEFAULT, "axxb");
  g_autofree char *caseless = all_matches ("straße", SLUICE_REGEX_CASELESS, "STRASSE Straße STRAẞE");
  g_autofree char *none = all_matches ("q", SLUICE_REGEX_DEFAULT, "abc");

  g_assert_cmpstr (words, ==, "0-2 6-9 10-11");
  g_assert_cmpstr (keep_out, ==, "4-6 13-16");           /* \K: the match starts after the name */
  g_assert_cmpstr (empty, ==, "0-0 1-3 3-3 4-4");
  g_assert_cmpstr (caseless, ==, "8-15 16-24");          /* simple folding: ß and ẞ, not SS */
  g_assert_cmpstr (none, ==, "");
}

static void
test_offset_past_end (void)
{
  g_autoptr(SluiceRegex) regex = sluice_regex_new ("a", NULL);
  gsize start = 7, end = 7;

  g_assert_cmpint (sluice_regex_find (regex, "aaa", 3, 4, &start, &end), ==, SLUICE_REGEX_NO_MATCH);
  g_assert_cmpint (sluice_regex_find (regex, "aaa", 3, 2, &start, &end), ==, SLUICE_REGEX_FOUND);
  g_assert_cmpuint (start, ==, 2);
  g_assert_cmpuint (end, ==, 3);
}

/* Exponential backtracking: PCRE2 stops at its match limit and says so. */
static void
test_gives_up (void)
{
  g_autoptr(SluiceRegex) regex = sluice_regex_new ("(a|a)+[bd]", NULL);
  const char *subject = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac";
  gsize start, end;

  g_assert_cmpint (sluice_regex_find (regex, subject, strlen (subject), 0, &start, &end), ==,
                   SLUICE_REGEX_GAVE_UP);
  g_assert_false (sluice_regex_match (regex, subject, strlen (subject)));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/regex/find", test_find);
  g_test_add_func ("/regex/offset-past-end", test_offset_past_end);
  g_test_add_func ("/regex/gives-up", test_gives_up);

  return g_test_run ();
}
