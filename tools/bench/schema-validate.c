/* schema-validate.c — validations per second of sluice's compiled JSON
 * Schema validator on one schema and a file of instances.
 *
 *   schema-validate-client SCHEMA.json INSTANCES.jsonl [ROUNDS]
 *
 * Every instance is parsed before the clock starts, so only validation is
 * timed: the verdict alone (as ajv's default, which stops at the first
 * error), then again collecting every violation (up to 32 per instance),
 * which is what the validate stage does when an answer is wrong. Each
 * round goes over all instances; the best round is printed (the machines
 * are shared, and the best round is the least disturbed one).
 *
 * Prints one line per mode: "sluice MODE N valid V validations/s R".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-schema-private.h"

#include <stdio.h>
#include <stdlib.h>

static GPtrArray *
read_instances (const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *instances = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);

  if (!g_file_get_contents (path, &text, NULL, &error))
    g_error ("%s", error->message);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (*lines[i] == '\0')
        continue;
      if (!json_parser_load_from_data (parser, lines[i], -1, &error))
        g_error ("%s line %u: %s", path, i + 1, error->message);
      g_ptr_array_add (instances, json_node_copy (json_parser_get_root (parser)));
    }
  return instances;
}

static void
measure (SluiceSchema *schema,
         GPtrArray    *instances,
         guint         rounds,
         gboolean      collect)
{
  g_autoptr(GPtrArray) violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
  gdouble best = 0;
  guint valid = 0;

  for (guint round = 0; round < rounds; round++)
    {
      gint64 start = g_get_monotonic_time ();
      gdouble seconds;

      valid = 0;
      for (guint i = 0; i < instances->len; i++)
        {
          if (collect)
            g_ptr_array_set_size (violations, 0);
          if (sluice_schema_validate (schema, g_ptr_array_index (instances, i),
                                      collect ? violations : NULL, collect ? 32 : 0))
            valid++;
        }
      seconds = (g_get_monotonic_time () - start) / 1e6;
      best = MAX (best, instances->len / seconds);
    }
  printf ("sluice %s %u valid %u validations/s %.0f\n",
          collect ? "all-errors" : "verdict", instances->len, valid, best);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *schema_text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceSchema) schema = NULL;
  g_autoptr(GPtrArray) instances = NULL;
  guint rounds = argc > 3 ? (guint) atoi (argv[3]) : 5;

  if (argc < 3)
    {
      fprintf (stderr, "usage: schema-validate-client SCHEMA.json INSTANCES.jsonl [ROUNDS]\n");
      return 2;
    }
  if (!g_file_get_contents (argv[1], &schema_text, NULL, &error))
    g_error ("%s", error->message);
  schema = sluice_schema_new_from_string (schema_text, &error);
  if (schema == NULL)
    g_error ("%s: %s", argv[1], error->message);
  instances = read_instances (argv[2]);
  measure (schema, instances, MAX (rounds, 1), FALSE);
  measure (schema, instances, MAX (rounds, 1), TRUE);
  return 0;
}
