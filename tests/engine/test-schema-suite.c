/* test-schema-suite.c — the JSON-Schema-Test-Suite against the validator
 *
 * Runs every required file of tests/draft2020-12/ and tests/draft7/ (not
 * optional/) from ../shared/testdata/json-schema-test-suite, with remotes/
 * served from files under http://localhost:1234/ and the official
 * metaschemas registered under their URIs, and prints pass and fail counts
 * per file and in total.  Fails if a required test fails that is not in
 * `skips` below.  Then runs optional/format/ with format assertion on and
 * reports it separately, for the nine formats sluice asserts and for the
 * rest (which stay annotations), and the other optional/ files
 * (informational: neither fails the test, but a crash or a hang would).
 *
 * Exits 77 (skipped) when the suite is not there.
 */
#include "sluice-schema-private.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *draft;        /* "draft2020-12" or "draft7" */
  const char *file;         /* e.g. "ref.json" */
  const char *test_case;    /* the case's description */
  const char *test;         /* the test's description, or NULL for all */
  const char *reason;
} Skip;

/* Required tests that are allowed to fail, each with its reason (none: every
 * required test passes). */
static const Skip skips[] = {
  { NULL, NULL, NULL, NULL, NULL },
};

typedef struct {
  guint passed;
  guint failed;
  guint skipped;
} Counts;

/* The formats SLUICE_SCHEMA_ASSERT_FORMAT checks; the others are
 * annotations, so their invalid cases are expected to fail. */
static const char * const asserted_formats[] = {
  "date-time.json", "date.json", "time.json", "email.json", "hostname.json", "ipv4.json", "ipv6.json", "uri.json",
  "uuid.json", NULL,
};

static const char *
find_suite (void)
{
  static char *root;
  const char *shared;

  if (root != NULL)
    return root;
  shared = g_getenv ("SLUICE_SHARED_TESTDATA");
  root = g_build_filename (shared != NULL ? shared : "../shared/testdata", "json-schema-test-suite", NULL);
  return root;
}

static JsonNode *
load_json (const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  return json_node_copy (json_parser_get_root (parser));
}

/* Registers a metaschema file under its own `$id`. */
static void
register_metaschema (SluiceSchemaRegistry *registry,
                     const char           *path)
{
  g_autoptr(JsonNode) doc = load_json (path);
  const char *id = json_object_get_string_member (json_node_get_object (doc), "$id");

  sluice_schema_registry_add (registry, id, doc);
}

static SluiceSchemaRegistry *
make_registry (const char *suite)
{
  SluiceSchemaRegistry *registry = sluice_schema_registry_new ();
  g_autofree char *remotes = g_build_filename (suite, "remotes", NULL);
  g_autofree char *meta2020 = g_build_filename (suite, "metaschemas", "draft2020-12", NULL);
  g_autofree char *meta_dir = g_build_filename (meta2020, "meta", NULL);
  g_autofree char *schema2020 = g_build_filename (meta2020, "schema.json", NULL);
  g_autofree char *schema7 = g_build_filename (suite, "metaschemas", "draft7", "schema.json", NULL);
  g_autoptr(GDir) dir = g_dir_open (meta_dir, 0, NULL);
  const char *name;

  sluice_schema_registry_add_folder (registry, "http://localhost:1234/", remotes);
  register_metaschema (registry, schema2020);
  register_metaschema (registry, schema7);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (meta_dir, name, NULL);

      register_metaschema (registry, path);
    }
  return registry;
}

static const Skip *
find_skip (const char *draft,
           const char *file,
           const char *test_case,
           const char *test)
{
  for (guint i = 0; skips[i].draft != NULL; i++)
    if (strcmp (skips[i].draft, draft) == 0 && strcmp (skips[i].file, file) == 0 &&
        strcmp (skips[i].test_case, test_case) == 0 &&
        (skips[i].test == NULL || strcmp (skips[i].test, test) == 0))
      return &skips[i];
  return NULL;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static GPtrArray *
list_json_files (const char *dir_path)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".json"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Runs one test file; returns its counts and prints failures. */
static Counts
run_file (SluiceSchemaRegistry *registry,
          const char           *draft,
          SluiceSchemaDraft     dialect,
          const char           *dir_path,
          const char           *file,
          SluiceSchemaFlags     flags,
          gboolean              required)
{
  g_autofree char *path = g_build_filename (dir_path, file, NULL);
  g_autoptr(JsonNode) root = load_json (path);
  JsonArray *cases = json_node_get_array (root);
  Counts counts = { 0 };

  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *test_case = json_array_get_object_element (cases, c);
      const char *case_name = json_object_get_string_member (test_case, "description");
      JsonArray *tests = json_object_get_array_member (test_case, "tests");
      g_autoptr(GError) error = NULL;
      g_autoptr(SluiceSchema) schema = sluice_schema_new_full (json_object_get_member (test_case, "schema"), NULL,
                                                               dialect, flags, registry, &error);

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          const char *test_name = json_object_get_string_member (test, "description");
          gboolean expected = json_object_get_boolean_member (test, "valid");
          const Skip *skip = required ? find_skip (draft, file, case_name, test_name) : NULL;
          g_autoptr(GPtrArray) violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
          gboolean quick = FALSE, full = FALSE, ok;

          if (schema != NULL)
            {
              quick = sluice_schema_validate (schema, json_object_get_member (test, "data"), NULL, 0);
              full = sluice_schema_validate (schema, json_object_get_member (test, "data"), violations, 100);
            }
          /* both modes agree, and a failure comes with violations */
          ok = schema != NULL && quick == expected && full == expected && (full == (violations->len == 0));

          if (skip != NULL)
            {
              counts.skipped++;
              continue;
            }
          if (ok)
            {
              counts.passed++;
              continue;
            }
          counts.failed++;
          if (!required)
            continue;  /* informational runs: counts only */
          if (schema == NULL)
            printf ("#   FAIL %s/%s: %s / %s: the schema did not compile: %s\n",
                    draft, file, case_name, test_name, error->message);
          else
            printf ("#   FAIL %s/%s: %s / %s: expected %s, got %s%s%s%s\n", draft, file, case_name, test_name,
                    expected ? "valid" : "invalid", quick ? "valid" : "invalid",
                    quick != full ? " (collecting mode disagrees)" : "",
                    violations->len > 0 ? "; first violation: " : "",
                    violations->len > 0 ? ((SluiceViolation *) violations->pdata[0])->message : "");
        }
    }
  return counts;
}

static Counts
run_directory (SluiceSchemaRegistry *registry,
               const char           *suite,
               const char           *draft,
               SluiceSchemaDraft     dialect,
               const char           *subdir,
               SluiceSchemaFlags     flags,
               gboolean              required,
               Counts               *asserted)
{
  g_autofree char *dir_path = g_build_filename (suite, "tests", draft, subdir, NULL);
  g_autoptr(GPtrArray) files = list_json_files (dir_path);
  Counts total = { 0 };

  if (files->len == 0)
    g_error ("no test files in %s", dir_path);
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = files->pdata[i];
      Counts counts = run_file (registry, draft, dialect, dir_path, file, flags, required);

      printf ("%s %s/%s%s: %u passed, %u failed, %u skipped\n",
              counts.failed == 0 ? "ok" : "FAIL", draft, subdir[0] != '\0' ? subdir : "", file,
              counts.passed, counts.failed, counts.skipped);
      total.passed += counts.passed;
      total.failed += counts.failed;
      total.skipped += counts.skipped;
      if (asserted != NULL && g_strv_contains (asserted_formats, file))
        {
          asserted->passed += counts.passed;
          asserted->failed += counts.failed;
        }
    }
  printf ("== %s%s%s: %u passed, %u failed, %u skipped (%s)\n\n", draft, subdir[0] != '\0' ? "/" : "", subdir,
          total.passed, total.failed, total.skipped, required ? "required" : "optional, informational");
  return total;
}

int
main (int   argc,
      char *argv[])
{
  const char *suite = find_suite ();
  g_autoptr(SluiceSchemaRegistry) registry = NULL;
  Counts d2020, d7, f2020, f7, o2020, o7, a2020 = { 0 }, a7 = { 0 };

  setvbuf (stdout, NULL, _IOLBF, 0);
  if (!g_file_test (suite, G_FILE_TEST_IS_DIR))
    {
      printf ("skipped: the JSON Schema test suite is not at %s (set SLUICE_SHARED_TESTDATA to the shared testdata folder)\n",
              suite);
      return 77;
    }

  for (guint i = 0; skips[i].draft != NULL; i++)
    printf ("# skip %s/%s: %s / %s: %s\n", skips[i].draft, skips[i].file, skips[i].test_case,
            skips[i].test != NULL ? skips[i].test : "(all)", skips[i].reason);

  registry = make_registry (suite);
  d2020 = run_directory (registry, suite, "draft2020-12", SLUICE_SCHEMA_DRAFT_2020_12, "", 0, TRUE, NULL);
  d7 = run_directory (registry, suite, "draft7", SLUICE_SCHEMA_DRAFT_7, "", 0, TRUE, NULL);
  f2020 = run_directory (registry, suite, "draft2020-12", SLUICE_SCHEMA_DRAFT_2020_12, "optional/format/",
                         SLUICE_SCHEMA_ASSERT_FORMAT, FALSE, &a2020);
  f7 = run_directory (registry, suite, "draft7", SLUICE_SCHEMA_DRAFT_7, "optional/format/",
                      SLUICE_SCHEMA_ASSERT_FORMAT, FALSE, &a7);
  o2020 = run_directory (registry, suite, "draft2020-12", SLUICE_SCHEMA_DRAFT_2020_12, "optional/", 0, FALSE, NULL);
  o7 = run_directory (registry, suite, "draft7", SLUICE_SCHEMA_DRAFT_7, "optional/", 0, FALSE, NULL);

  printf ("required: draft2020-12 %u/%u passed (%u skipped), draft7 %u/%u passed (%u skipped)\n",
          d2020.passed, d2020.passed + d2020.failed + d2020.skipped, d2020.skipped,
          d7.passed, d7.passed + d7.failed + d7.skipped, d7.skipped);
  printf ("optional/format with assertion, the nine asserted formats: draft2020-12 %u/%u passed, draft7 %u/%u passed\n",
          a2020.passed, a2020.passed + a2020.failed, a7.passed, a7.passed + a7.failed);
  printf ("optional/format with assertion, all formats: draft2020-12 %u/%u passed, draft7 %u/%u passed\n",
          f2020.passed, f2020.passed + f2020.failed, f7.passed, f7.passed + f7.failed);
  printf ("optional (not format): draft2020-12 %u/%u passed, draft7 %u/%u passed\n",
          o2020.passed, o2020.passed + o2020.failed, o7.passed, o7.passed + o7.failed);
  return d2020.failed + d7.failed == 0 ? 0 : 1;
}
