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

static char *
repeat (const char *unit,
        guint       times,
        const char *tail)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < times; i++)
    g_string_append (s, unit);
  g_string_append (s, tail);
  return g_string_free (s, FALSE);
}

/* A repeated group keeps a JIT stack frame per repetition: 32 KiB ran out
 * at about 2000 characters, and the error was read as "no match". */
static void
test_long_subjects_match (void)
{
  const struct { const char *pattern; const char *unit; guint times; const char *wrong_tail; } cases[] = {
    { "^([a-z]|-)*$", "ab-", 700, "A" },          /* 2100 characters */
    { "^([a-z]|-)*$", "ab-", 7000, "A" },
    { "^(.|\n)*[b\n]$", "a\nb", 700, "a" },
    { "^(.|\n)*[b\n]$", "a\nb", 22000, "a" },    /* 66,000: within the 4 MiB JIT stack */
    { "^([a-z]|-)*$", "ab-", 100000, "A" },       /* 300,000: past it, the interpreter takes over */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceRegex) regex = sluice_regex_new (cases[i].pattern, NULL);
      g_autofree char *subject = repeat (cases[i].unit, cases[i].times, "");
      g_autofree char *wrong = repeat (cases[i].unit, cases[i].times, cases[i].wrong_tail);
      g_autoptr(GError) error = NULL;
      guint64 steps = 1u << 30;

      g_assert_cmpint (sluice_regex_match_full (regex, subject, strlen (subject), NULL, &error), ==,
                       SLUICE_REGEX_FOUND);
      g_assert_no_error (error);
      g_assert_true (sluice_regex_match (regex, subject, strlen (subject)));
      g_assert_cmpint (sluice_regex_match_full (regex, wrong, strlen (wrong), &steps, &error), ==,
                       SLUICE_REGEX_NO_MATCH);
      g_assert_no_error (error);
    }
}

/* What no limit lets through is an error the caller sees, not "no match". */
static void
test_match_full_errors (void)
{
  g_autoptr(SluiceRegex) catastrophic = sluice_regex_new ("^(a+)+$", NULL);
  g_autoptr(SluiceRegex) group = sluice_regex_new ("^([a-z]|-)*$", NULL);
  g_autofree char *forty = repeat ("a", 40, "!");
  g_autofree char *huge = repeat ("ab-", 300000, "");
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (sluice_regex_match_full (catastrophic, forty, strlen (forty), NULL, &error), ==,
                   SLUICE_REGEX_GAVE_UP);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "match limit exceeded");
  g_clear_error (&error);
  g_assert_false (sluice_regex_match (catastrophic, forty, strlen (forty)));

  /* 900,000 characters: too deep for the JIT stack, and the
   * interpreter's frames pass the 128 MiB heap limit */
  g_assert_cmpint (sluice_regex_match_full (group, huge, strlen (huge), NULL, &error), ==,
                   SLUICE_REGEX_GAVE_UP);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "heap limit exceeded");
}

/* Each match is charged the limits it ran under (128, then 4096, then
 * 100,000 steps) and a quarter step per byte scanned. */
static void
test_match_full_steps (void)
{
  g_autoptr(SluiceRegex) catastrophic = sluice_regex_new ("^(a+)+$", NULL);
  g_autoptr(SluiceRegex) cheap = sluice_regex_new ("^[a-z]+$", NULL);
  g_autofree char *forty = repeat ("a", 40, "!");
  g_autoptr(GError) error = NULL;
  guint64 steps = 1000000;

  g_assert_cmpint (sluice_regex_match_full (cheap, "abcdefgh", 8, &steps, &error), ==, SLUICE_REGEX_FOUND);
  g_assert_cmpuint (steps, ==, 1000000 - 2 - 128);
  g_assert_cmpint (sluice_regex_match_full (catastrophic, forty, 41, &steps, &error), ==, SLUICE_REGEX_GAVE_UP);
  g_assert_cmpstr (error->message, ==, "match limit exceeded");
  g_clear_error (&error);
  g_assert_cmpuint (steps, ==, 1000000 - 2 - 128 - 10 - 128 - 4096 - 100000);

  /* the budget, not the match limit, stops it: the caller is told */
  steps = 50000;
  g_assert_cmpint (sluice_regex_match_full (catastrophic, forty, 41, &steps, &error), ==,
                   SLUICE_REGEX_OVER_BUDGET);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  g_assert_cmpstr (error->message, ==, "the steps allowed for pattern matching ran out");
  g_assert_cmpuint (steps, ==, 0);
  g_clear_error (&error);
  g_assert_cmpint (sluice_regex_match_full (cheap, "abc", 3, &steps, &error), ==, SLUICE_REGEX_OVER_BUDGET);
  g_clear_error (&error);

  /* a match that ends within what is left is still a match */
  steps = 200;
  g_assert_cmpint (sluice_regex_match_full (cheap, "abc", 3, &steps, &error), ==, SLUICE_REGEX_FOUND);
  g_assert_no_error (error);
  g_assert_cmpuint (steps, ==, 200 - 128);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/regex/find", test_find);
  g_test_add_func ("/regex/offset-past-end", test_offset_past_end);
  g_test_add_func ("/regex/gives-up", test_gives_up);
  g_test_add_func ("/regex/long-subjects-match", test_long_subjects_match);
  g_test_add_func ("/regex/match-full-errors", test_match_full_errors);
  g_test_add_func ("/regex/match-full-steps", test_match_full_steps);

  return g_test_run ();
}
