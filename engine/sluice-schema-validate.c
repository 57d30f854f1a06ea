/* sluice-schema-validate.c — checking instances against a compiled schema
 *
 * One recursive walk over the SchemaNode graph.  The instance path, the
 * dynamic scope (the schema resources entered so far, for `$dynamicRef`)
 * and the nesting counters live in stack frames, so a valid instance costs
 * no allocation.  Keywords whose result depends on what other keywords
 * evaluated (unevaluatedProperties, unevaluatedItems) get an Eval record
 * that the in-place applicators below them fill: properties,
 * patternProperties, additionalProperties, prefixItems, items, contains
 * and the unevaluated keywords themselves, merged up from allOf, $ref,
 * $dynamicRef, dependentSchemas, and from anyOf, oneOf and if/then/else
 * branches that passed.  Only schemas that use those keywords pay for it.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-node-private.h"
#include "sluice.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* Messages (only built when a violation is recorded)                        */
static char *
type_message (const SchemaNode *n,
              guint             itype)
{
  GString *s = g_string_new ("expected ");

  for (guint i = 0; i < n->n_types; i++)
    {
      if (i > 0)
        g_string_append (s, i + 1 == n->n_types ? " or " : ", ");
      g_string_append (s, schema_type_names[n->type_order[i]].name);
    }
  if (n->n_types == 0)
    g_string_append (s, "nothing");
  g_string_append_printf (s, ", got %s", schema_instance_type_name (itype));
  return g_string_free (s, FALSE);
}

static void
append_schema_value (GString  *s,
                     JsonNode *value,
                     gboolean  quote_strings)
{
  if (!quote_strings && JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
    g_string_append (s, json_node_get_string (value));
  else
    {
      g_autofree char *text = sluice_json_to_string (value);

      g_string_append (s, text);
    }
}

static char *
enum_message (const SchemaNode *n)
{
  GString *s = g_string_new ("value is not one of: ");
  gboolean all_strings = TRUE;

  /* Strings are quoted only when they could be mistaken for other values. */
  for (guint i = 0; i < n->n_enum; i++)
    all_strings = all_strings && JSON_NODE_HOLDS_VALUE (n->enum_values[i]) &&
                  json_node_get_value_type (n->enum_values[i]) == G_TYPE_STRING;
  for (guint i = 0; i < n->n_enum && i < LIST_CAP; i++)
    {
      if (i > 0)
        g_string_append (s, ", ");
      append_schema_value (s, n->enum_values[i], !all_strings);
    }
  if (n->n_enum > LIST_CAP)
    g_string_append (s, ", …");
  return g_string_free (s, FALSE);
}

static char *
const_message (const SchemaNode *n)
{
  GString *s = g_string_new ("value is not equal to the constant ");

  append_schema_value (s, n->const_value, TRUE);
  return g_string_free (s, FALSE);
}

static guint
levenshtein (const gunichar *a,
             glong           la,
             const gunichar *b,
             glong           lb)
{
  g_autofree guint *row = g_new (guint, lb + 1);

  for (glong j = 0; j <= lb; j++)
    row[j] = (guint) j;
  for (glong i = 1; i <= la; i++)
    {
      guint diagonal = row[0];

      row[0] = (guint) i;
      for (glong j = 1; j <= lb; j++)
        {
          guint above = row[j];
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diagonal + cost);
          diagonal = above;
        }
    }
  return row[lb];
}

static char *
unknown_property_message (const SchemaNode *n,
                          const char       *name)
{
  g_autofree gunichar *wanted = NULL;
  glong wanted_len = 0;
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  GString *s;

  if (n->n_props == 0)
    return g_strdup_printf ("unknown property '%s'; no properties are allowed here", name);

  wanted = g_utf8_to_ucs4_fast (name, -1, &wanted_len);
  if (wanted_len <= 256)
    {
      guint limit = MAX (2, (guint) wanted_len / 3);

      for (guint i = 0; i < n->n_props; i++)
        {
          glong len = 0;
          g_autofree gunichar *candidate = g_utf8_to_ucs4_fast (n->props[i].name, -1, &len);
          guint d = levenshtein (wanted, wanted_len, candidate, len);

          if (d <= limit && d < best_distance)
            {
              best = n->props[i].name;
              best_distance = d;
            }
        }
    }
  if (best != NULL)
    return g_strdup_printf ("unknown property '%s'; did you mean '%s'?", name, best);

  s = g_string_new (NULL);
  g_string_append_printf (s, "unknown property '%s'; expected one of: ", name);
  for (guint i = 0; i < n->n_props && i < LIST_CAP; i++)
    {
      if (i > 0)
        g_string_append (s, ", ");
      g_string_append (s, n->props[i].name);
    }
  if (n->n_props > LIST_CAP)
    g_string_append (s, ", …");
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

/* The instance path as a chain of stack frames; a string only on failure. */
typedef struct _PathFrame PathFrame;
struct _PathFrame {
  const PathFrame *parent;
  const char      *key;    /* member name, or NULL for an array index */
  guint            index;
};

/* The dynamic scope: the schema resources validation has entered, innermost
 * first. */
typedef struct _ScopeFrame ScopeFrame;
struct _ScopeFrame {
  const ScopeFrame     *parent;
  const SchemaResource *resource;
};

/* Work shared by a validation and all its probes: anyOf and oneOf inside
 * recursive schemas can take time exponential in the instance's depth, so
 * the number of subschema visits is capped. */
typedef struct {
  guint    visits;
  gboolean exhausted;
  gboolean by_patterns;      /* pattern matching spent the last of it */
  guint    pattern_visits;   /* what pattern matching was charged */
} Budget;

typedef struct {
  GPtrArray        *out;     /* NULL: only the verdict matters, stop at the first failure */
  guint             max;
  guint             count;
  guint             frames;
  gboolean          stop;
  const ScopeFrame *scope;
  gboolean          explaining;  /* inside closest_failure(): no nested explanations */
  Budget           *budget;
} Ctx;

/* What the keywords applied to one instance location evaluated: the
 * annotations unevaluatedProperties and unevaluatedItems depend on. */
typedef struct {
  gboolean    all_props;
  GHashTable *props;      /* member names (borrowed from the instance) */
  gboolean    all_items;
  guint       prefix;     /* items below this index */
  GHashTable *items;      /* further indices + 1 (from contains) */
} Eval;

static void
eval_clear (Eval *ev)
{
  g_clear_pointer (&ev->props, g_hash_table_unref);
  g_clear_pointer (&ev->items, g_hash_table_unref);
}

static void
eval_add_prop (Eval       *ev,
               const char *name)
{
  if (ev->all_props)
    return;
  if (ev->props == NULL)
    ev->props = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_add (ev->props, (gpointer) name);
}

static void
eval_add_item (Eval  *ev,
               guint  index)
{
  if (ev->all_items || index < ev->prefix)
    return;
  if (ev->items == NULL)
    ev->items = g_hash_table_new (NULL, NULL);
  g_hash_table_add (ev->items, GUINT_TO_POINTER (index + 1));
}

static void
eval_merge (Eval *into,
            Eval *from)
{
  GHashTableIter iter;
  gpointer key;

  into->all_props |= from->all_props;
  into->all_items |= from->all_items;
  into->prefix = MAX (into->prefix, from->prefix);
  if (from->props != NULL && !into->all_props)
    {
      g_hash_table_iter_init (&iter, from->props);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        eval_add_prop (into, key);
    }
  if (from->items != NULL && !into->all_items)
    {
      g_hash_table_iter_init (&iter, from->items);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        eval_add_item (into, GPOINTER_TO_UINT (key) - 1);
    }
}

static gboolean
eval_has_prop (const Eval *ev,
               const char *name)
{
  return ev->all_props || (ev->props != NULL && g_hash_table_contains (ev->props, name));
}

static gboolean
eval_has_item (const Eval *ev,
               guint       index)
{
  return ev->all_items || index < ev->prefix ||
         (ev->items != NULL && g_hash_table_contains (ev->items, GUINT_TO_POINTER (index + 1)));
}

static char *
build_instance_path (const PathFrame *path)
{
  g_autoptr(GPtrArray) frames = g_ptr_array_new ();
  GString *s = g_string_new (NULL);

  for (const PathFrame *f = path; f != NULL; f = f->parent)
    g_ptr_array_add (frames, (gpointer) f);
  for (guint i = frames->len; i-- > 0;)
    {
      const PathFrame *f = g_ptr_array_index (frames, i);

      g_string_append_c (s, '/');
      if (f->key != NULL)
        schema_append_escaped_token (s, f->key);
      else
        g_string_append_printf (s, "%u", f->index);
    }
  return g_string_free (s, FALSE);
}

/* Records a violation; returns FALSE when validation should stop. */
static gboolean
add_violation (Ctx              *ctx,
               const SchemaNode *n,
               const char       *keyword,
               const PathFrame  *path,
               char             *message)
{
  SluiceViolation *v;

  if (ctx->out == NULL)
    {
      ctx->stop = TRUE;
      return FALSE;
    }
  v = g_new0 (SluiceViolation, 1);
  v->instance_path = build_instance_path (path);
  v->keyword_path = keyword != NULL ? g_strconcat (n->path, "/", keyword, NULL) : g_strdup (n->path);
  v->message = message;
  g_ptr_array_add (ctx->out, v);
  if (++ctx->count >= ctx->max)
    {
      ctx->stop = TRUE;
      return FALSE;
    }
  return TRUE;
}

/* Like REPORT, for a violation located at another node (a `false`
 * subschema, whose own message would say less than its parent can). */
#define REPORT_AT(node, path_, message_expr)                                         \
  G_STMT_START {                                                                     \
    valid = FALSE;                                                                   \
    if (!add_violation (ctx, node, NULL, path_, ctx->out != NULL ? (message_expr) : NULL)) \
      return FALSE;                                                                  \
  } G_STMT_END

/* The message expression is only evaluated when it will be kept. */
#define REPORT(keyword, path_, message_expr)                                         \
  G_STMT_START {                                                                     \
    valid = FALSE;                                                                   \
    if (!add_violation (ctx, n, keyword, path_, ctx->out != NULL ? (message_expr) : NULL)) \
      return FALSE;                                                                  \
  } G_STMT_END

#define CHECK(call)                   \
  G_STMT_START {                      \
    if (!(call))                      \
      {                               \
        valid = FALSE;                \
        if (ctx->stop)                \
          return FALSE;               \
      }                               \
  } G_STMT_END

/* Matches a pattern, charging its steps to the validation's budget. On
 * %SLUICE_REGEX_OVER_BUDGET the budget is exhausted and validation stops,
 * as when the visits run out. */
static SluiceRegexResult
pattern_search (Ctx          *ctx,
                SluiceRegex  *regex,
                const char   *str,
                gsize         length,
                GError      **error)
{
  guint64 left = (guint64) (MAX_VISITS - MIN (ctx->budget->visits, MAX_VISITS)) * REGEX_STEPS_PER_VISIT;
  guint64 before = left;
  SluiceRegexResult result = schema_regex_search (regex, str, length, &left, error);

  guint charge = (guint) ((before - left + REGEX_STEPS_PER_VISIT - 1) / REGEX_STEPS_PER_VISIT);

  ctx->budget->visits += charge;
  ctx->budget->pattern_visits += charge;
  if (result == SLUICE_REGEX_OVER_BUDGET)
    {
      ctx->budget->exhausted = TRUE;
      ctx->budget->by_patterns = TRUE;
      ctx->stop = TRUE;
    }
  return result;
}

static gboolean validate_node (const SchemaNode *n,
                               JsonNode         *inst,
                               const PathFrame  *path,
                               guint             depth,
                               Ctx              *ctx,
                               Eval             *ev);

static gboolean
too_deep (JsonNode *inst,
          guint     depth)
{
  /* only containers nest further; a scalar at the limit is harmless */
  return depth > MAX_INSTANCE_DEPTH && (JSON_NODE_HOLDS_OBJECT (inst) || JSON_NODE_HOLDS_ARRAY (inst));
}

/* Validates a member or item one level down, guarding the nesting depth. */
static gboolean
descend (const SchemaNode *n,
         JsonNode         *inst,
         const PathFrame  *path,
         guint             depth,
         Ctx              *ctx)
{
  gboolean valid = TRUE;

  if (n->has == 0 && !n->is_false)
    return TRUE;
  if (too_deep (inst, depth))
    REPORT (NULL, path, g_strdup_printf ("value nests deeper than %u levels", MAX_INSTANCE_DEPTH));
  else
    CHECK (validate_node (n, inst, path, depth, ctx, NULL));
  return valid;
}

/* The verdict of one subschema, without violations (anyOf, oneOf, not, if,
 * contains). */
static gboolean
probe (const SchemaNode *n,
       JsonNode         *inst,
       const PathFrame  *path,
       guint             depth,
       Ctx              *ctx,
       Eval             *ev)
{
  Ctx sub = { NULL, 0, 0, ctx->frames, FALSE, ctx->scope, FALSE, ctx->budget };

  if (too_deep (inst, depth))
    return FALSE;
  return validate_node (n, inst, path, depth, &sub, ev);
}

/* Index of the `properties` entry for @name, or -1. */
static int
find_property (const SchemaNode *n,
               const char       *name)
{
  if (n->prop_index != NULL)
    {
      const Prop *prop = g_hash_table_lookup (n->prop_index, name);

      return prop != NULL ? (int) (prop - n->props) : -1;
    }
  for (guint i = 0; i < n->n_props; i++)
    if (n->props[i].name[0] == name[0] && strcmp (n->props[i].name, name) == 0)
      return (int) i;
  return -1;
}

static gboolean
declares_property (const SchemaNode *n,
                   const char       *name)
{
  return find_property (n, name) >= 0;
}

/* Objects whose schema declares at most this many properties are matched
 * to them in one pass over the members (an array on the stack), instead
 * of one hash lookup per declared and per required name. */
#define MEMBER_MAP_MAX 32

static gboolean validate_string (const SchemaNode *n,
                                 const char       *str,
                                 const PathFrame  *path,
                                 Ctx              *ctx);

static gboolean
validate_property_names (const SchemaNode *n,
                         JsonObject       *object,
                         const PathFrame  *path,
                         guint             depth,
                         Ctx              *ctx)
{
  gboolean valid = TRUE;
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  const SchemaNode *names = n->property_names;
  /* the usual name schemas (pattern, lengths, format) check the string
   * itself; others need it as a JSON node */
  gboolean strings_only = (names->has & ~(STRING_KEYWORDS | HAS_TYPE)) == 0 &&
                          (!(names->has & HAS_TYPE) || (names->type_mask & T_STRING));

  if (names->has == 0 && !names->is_false)
    return TRUE;
  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      PathFrame child = { path, name, 0 };

      if (names->is_false)
        REPORT ("propertyNames", &child, g_strdup_printf ("property '%s' is not allowed: no names are", name));
      else if (strings_only)
        CHECK (validate_string (names, name, &child, ctx));
      else
        {
          g_autoptr(JsonNode) key = json_node_init_string (json_node_alloc (), name);

          CHECK (validate_node (names, key, &child, depth + 1, ctx, NULL));
        }
    }
  return valid;
}

static gboolean
validate_object (const SchemaNode *n,
                 JsonObject       *object,
                 const PathFrame  *path,
                 guint             depth,
                 Ctx              *ctx,
                 Eval             *ev)
{
  gboolean valid = TRUE;
  guint size = json_object_get_size (object);
  JsonNode *found_stack[MEMBER_MAP_MAX];
  JsonNode **found = NULL;
  guint unknown = 0;

  /* (an object with far more members than the schema declares, and no
   * additionalProperties to check them, is cheaper by name lookups) */
  if (n->n_props > 0 && n->n_props <= MEMBER_MAP_MAX && n->n_pattern_props == 0 &&
      ((n->has & HAS_ADDITIONAL) || size <= 4 * n->n_props))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      found = found_stack;
      memset (found, 0, n->n_props * sizeof (JsonNode *));
      /* unordered: the ordered iterator looks every member up by name */
      json_object_iter_init (&iter, object);
      while (json_object_iter_next (&iter, &name, &member))
        {
          int index = find_property (n, name);

          if (index >= 0)
            found[index] = member;
          else
            unknown++;
        }
    }

  if ((n->has & HAS_MIN_PROPS) && size < n->min_props)
    REPORT ("minProperties", path,
            g_strdup_printf ("object has fewer than %" G_GUINT64_FORMAT " propert%s",
                             n->min_props, n->min_props == 1 ? "y" : "ies"));
  if ((n->has & HAS_MAX_PROPS) && size > n->max_props)
    REPORT ("maxProperties", path,
            g_strdup_printf ("object has more than %" G_GUINT64_FORMAT " propert%s",
                             n->max_props, n->max_props == 1 ? "y" : "ies"));

  for (guint i = 0; i < n->n_required; i++)
    {
      gboolean present = found != NULL && n->required_prop != NULL && n->required_prop[i] >= 0
                           ? found[n->required_prop[i]] != NULL
                           : json_object_has_member (object, n->required[i]);

      if (!present)
        REPORT ("required", path, g_strdup_printf ("missing required property '%s'", n->required[i]));
    }

  for (guint i = 0; i < n->n_dep_required; i++)
    if (json_object_has_member (object, n->dep_required[i].name))
      for (char **r = n->dep_required[i].required; *r != NULL; r++)
        if (!json_object_has_member (object, *r))
          REPORT (n->legacy_dependencies ? "dependencies" : "dependentRequired", path,
                  g_strdup_printf ("missing property '%s', which is required when '%s' is present",
                                   *r, n->dep_required[i].name));

  for (guint i = 0; i < n->n_props; i++)
    {
      JsonNode *member = found != NULL ? found[i] : json_object_get_member (object, n->props[i].name);
      PathFrame child = { path, n->props[i].name, 0 };

      if (member == NULL)
        continue;
      if (ev != NULL)
        eval_add_prop (ev, n->props[i].name);
      if (n->props[i].schema->is_false)
        REPORT_AT (n->props[i].schema, &child,
                   g_strdup_printf ("property '%s' is not allowed", n->props[i].name));
      else
        CHECK (descend (n->props[i].schema, member, &child, depth + 1, ctx));
    }

  /* every member is declared: additionalProperties has nothing to check */
  if ((n->has & HAS_ADDITIONAL) && found != NULL && unknown == 0)
    {
      if (ev != NULL)
        ev->all_props = TRUE;
    }
  else if (n->has & (HAS_PATTERN_PROPS | HAS_ADDITIONAL))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, object);
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          PathFrame child = { path, name, 0 };
          gboolean matched = FALSE;

          for (guint i = 0; i < n->n_pattern_props; i++)
            {
              g_autoptr(GError) error = NULL;

              switch (pattern_search (ctx, n->pattern_props[i].regex, name, strlen (name), &error))
                {
                case SLUICE_REGEX_FOUND:
                  matched = TRUE;
                  if (ev != NULL)
                    eval_add_prop (ev, name);
                  CHECK (descend (n->pattern_props[i].schema, member, &child, depth + 1, ctx));
                  break;
                case SLUICE_REGEX_NO_MATCH:
                  break;
                case SLUICE_REGEX_OVER_BUDGET:
                  return FALSE;
                case SLUICE_REGEX_GAVE_UP:
                default:
                  /* whether the member's schema applies is unknown */
                  matched = TRUE;
                  REPORT ("patternProperties", &child,
                          g_strdup_printf ("the pattern '%s' could not be checked on this property name: %s",
                                           n->pattern_props[i].source, error->message));
                  break;
                }
            }
          if (matched || !(n->has & HAS_ADDITIONAL) || declares_property (n, name))
            continue;
          if (n->additional->is_false)
            REPORT ("additionalProperties", &child, unknown_property_message (n, name));
          else
            CHECK (descend (n->additional, member, &child, depth + 1, ctx));
        }
      if ((n->has & HAS_ADDITIONAL) && ev != NULL)
        ev->all_props = TRUE;
    }

  if (n->has & HAS_PROPERTY_NAMES)
    CHECK (validate_property_names (n, object, path, depth, ctx));
  return valid;
}

static guint
json_hash_func (gconstpointer key)
{
  return schema_json_hash ((JsonNode *) key, 0);
}

static gboolean
json_equal_func (gconstpointer a,
                 gconstpointer b)
{
  return schema_json_equal ((JsonNode *) a, (JsonNode *) b, 0);
}

/* Index pair of the first duplicate (smallest second index), or FALSE. */
static gboolean
find_duplicate (JsonArray *array,
                guint     *first,
                guint     *second)
{
  guint len = json_array_get_length (array);
  g_autoptr(GHashTable) seen = NULL;

  if (len <= 16)
    {
      for (guint j = 1; j < len; j++)
        for (guint i = 0; i < j; i++)
          if (schema_json_equal (json_array_get_element (array, i), json_array_get_element (array, j), 0))
            {
              *first = i;
              *second = j;
              return TRUE;
            }
      return FALSE;
    }

  seen = g_hash_table_new (json_hash_func, json_equal_func);
  for (guint j = 0; j < len; j++)
    {
      JsonNode *element = json_array_get_element (array, j);
      gpointer index;

      if (g_hash_table_lookup_extended (seen, element, NULL, &index))
        {
          *first = GPOINTER_TO_UINT (index);
          *second = j;
          return TRUE;
        }
      g_hash_table_insert (seen, element, GUINT_TO_POINTER (j));
    }
  return FALSE;
}

static gboolean
validate_contains (const SchemaNode *n,
                   JsonArray        *array,
                   const PathFrame  *path,
                   guint             depth,
                   Ctx              *ctx,
                   Eval             *ev)
{
  gboolean valid = TRUE;
  guint len = json_array_get_length (array);
  guint64 min = (n->has & HAS_MIN_CONTAINS) ? n->min_contains : 1;
  guint64 matches = 0;

  for (guint i = 0; i < len; i++)
    {
      PathFrame child = { path, NULL, i };

      if (!probe (n->contains, json_array_get_element (array, i), &child, depth + 1, ctx, NULL))
        continue;
      matches++;
      if (ev != NULL)
        eval_add_item (ev, i);
      else if (!(n->has & HAS_MAX_CONTAINS) && matches >= min)
        break;  /* nobody needs the rest */
    }

  if (matches < min)
    {
      if (!(n->has & HAS_MIN_CONTAINS))
        REPORT ("contains", path, g_strdup ("array has no item that matches 'contains'"));
      else
        REPORT ("minContains", path,
                g_strdup_printf ("array has fewer than %" G_GUINT64_FORMAT " item%s that match 'contains'",
                                 n->min_contains, n->min_contains == 1 ? "" : "s"));
    }
  if ((n->has & HAS_MAX_CONTAINS) && matches > n->max_contains)
    REPORT ("maxContains", path,
            g_strdup_printf ("array has more than %" G_GUINT64_FORMAT " item%s that match 'contains'",
                             n->max_contains, n->max_contains == 1 ? "" : "s"));
  return valid;
}

static gboolean
validate_array (const SchemaNode *n,
                JsonArray        *array,
                const PathFrame  *path,
                guint             depth,
                Ctx              *ctx,
                Eval             *ev)
{
  gboolean valid = TRUE;
  guint len = json_array_get_length (array);
  guint first, second;
  guint prefix = MIN (len, n->n_prefix_items);

  if ((n->has & HAS_MIN_ITEMS) && len < n->min_items)
    REPORT ("minItems", path,
            g_strdup_printf ("array has fewer than %" G_GUINT64_FORMAT " item%s",
                             n->min_items, n->min_items == 1 ? "" : "s"));
  if ((n->has & HAS_MAX_ITEMS) && len > n->max_items)
    REPORT ("maxItems", path,
            g_strdup_printf ("array has more than %" G_GUINT64_FORMAT " item%s",
                             n->max_items, n->max_items == 1 ? "" : "s"));
  if ((n->has & HAS_UNIQUE) && find_duplicate (array, &first, &second))
    REPORT ("uniqueItems", path, g_strdup_printf ("items %u and %u are equal", first, second));

  for (guint i = 0; i < prefix; i++)
    {
      PathFrame child = { path, NULL, i };

      CHECK (descend (n->prefix_items[i], json_array_get_element (array, i), &child, depth + 1, ctx));
    }
  if (ev != NULL)
    ev->prefix = MAX (ev->prefix, prefix);

  if (n->has & HAS_ITEMS)
    {
      for (guint i = prefix; i < len; i++)
        {
          PathFrame child = { path, NULL, i };

          if (n->items->is_false)
            REPORT_AT (n->items, &child,
                       n->n_prefix_items == 0
                         ? g_strdup ("the array must be empty")
                         : g_strdup_printf ("item %u is not allowed: the array has at most %u item%s", i,
                                            n->n_prefix_items, n->n_prefix_items == 1 ? "" : "s"));
          else
            CHECK (descend (n->items, json_array_get_element (array, i), &child, depth + 1, ctx));
        }
      if (ev != NULL)
        ev->all_items = TRUE;
    }

  if (n->has & HAS_CONTAINS)
    CHECK (validate_contains (n, array, path, depth, ctx, ev));
  return valid;
}

static gboolean
validate_string (const SchemaNode *n,
                 const char       *str,
                 const PathFrame  *path,
                 Ctx              *ctx)
{
  gboolean valid = TRUE;
  gsize bytes = strlen (str);

  /* a code point takes 1 to 4 bytes: most strings are decided by their size */
  if ((n->has & HAS_MIN_LENGTH) && (bytes + 3) / 4 < n->min_length &&
      (bytes < n->min_length || (guint64) g_utf8_strlen (str, (gssize) bytes) < n->min_length))
    REPORT ("minLength", path,
            g_strdup_printf ("string is shorter than %" G_GUINT64_FORMAT " character%s",
                             n->min_length, n->min_length == 1 ? "" : "s"));
  if ((n->has & HAS_MAX_LENGTH) && bytes > n->max_length &&
      (guint64) g_utf8_strlen (str, (gssize) bytes) > n->max_length)
    REPORT ("maxLength", path,
            g_strdup_printf ("string is longer than %" G_GUINT64_FORMAT " character%s",
                             n->max_length, n->max_length == 1 ? "" : "s"));
  if (n->has & HAS_PATTERN)
    {
      g_autoptr(GError) error = NULL;

      switch (pattern_search (ctx, n->pattern, str, bytes, &error))
        {
        case SLUICE_REGEX_FOUND:
          break;
        case SLUICE_REGEX_NO_MATCH:
          REPORT ("pattern", path, g_strdup_printf ("string does not match the pattern '%s'", n->pattern_source));
          break;
        case SLUICE_REGEX_OVER_BUDGET:
          return FALSE;
        case SLUICE_REGEX_GAVE_UP:
        default:
          REPORT ("pattern", path, g_strdup_printf ("the pattern '%s' could not be checked on this string: %s",
                                                    n->pattern_source, error->message));
          break;
        }
    }
  if ((n->has & HAS_FORMAT) && !schema_format_check (n->format, str))
    REPORT ("format", path, g_strdup_printf ("string is not a valid %s", n->format_name));
  return valid;
}

static gboolean
validate_number (const SchemaNode *n,
                 const Num        *num,
                 const PathFrame  *path,
                 Ctx              *ctx)
{
  gboolean valid = TRUE;
  char a[NUM_BUF], b[NUM_BUF];

  if ((n->has & HAS_MINIMUM) && schema_num_cmp (num, &n->minimum) < 0)
    REPORT ("minimum", path, g_strdup_printf ("%s is less than the minimum %s",
                                              schema_format_num (a, num), schema_format_num (b, &n->minimum)));
  if ((n->has & HAS_MAXIMUM) && schema_num_cmp (num, &n->maximum) > 0)
    REPORT ("maximum", path, g_strdup_printf ("%s is greater than the maximum %s",
                                              schema_format_num (a, num), schema_format_num (b, &n->maximum)));
  if ((n->has & HAS_EXCL_MIN) && schema_num_cmp (num, &n->exclusive_minimum) <= 0)
    REPORT ("exclusiveMinimum", path,
            g_strdup_printf ("%s is not greater than the exclusive minimum %s",
                             schema_format_num (a, num), schema_format_num (b, &n->exclusive_minimum)));
  if ((n->has & HAS_EXCL_MAX) && schema_num_cmp (num, &n->exclusive_maximum) >= 0)
    REPORT ("exclusiveMaximum", path,
            g_strdup_printf ("%s is not less than the exclusive maximum %s",
                             schema_format_num (a, num), schema_format_num (b, &n->exclusive_maximum)));
  if ((n->has & HAS_MULTIPLE_OF) && !schema_num_is_multiple (num, &n->multiple_of, &n->multiple_of_decimal))
    REPORT ("multipleOf", path, g_strdup_printf ("%s is not a multiple of %s",
                                                 schema_format_num (a, num), schema_format_num (b, &n->multiple_of)));
  return valid;
}

static gboolean
enum_contains (const SchemaNode *n,
               JsonNode         *inst,
               guint             itype,
               const Num        *num)
{
  /* a string equals only strings, a number only numbers */
  if (itype & T_STRING)
    {
      const char *str = json_node_get_string (inst);

      if (n->enum_strings != NULL)
        return g_hash_table_contains (n->enum_strings, str);
      for (guint i = 0; i < n->n_enum; i++)
        if (n->enum_scalars[i].kind == T_STRING && strcmp (n->enum_scalars[i].str, str) == 0)
          return TRUE;
      return FALSE;
    }
  if (itype & T_NUMBER)
    {
      for (guint i = 0; i < n->n_enum; i++)
        if (n->enum_scalars[i].kind == T_NUMBER && schema_num_cmp (&n->enum_scalars[i].num, num) == 0)
          return TRUE;
      return FALSE;
    }
  for (guint i = 0; i < n->n_enum; i++)
    if (schema_json_equal (n->enum_values[i], inst, 0))
      return TRUE;
  return FALSE;
}

/* Why the alternative that came closest failed: the one with the fewest
 * violations, not counting one that fails on its type (a one-line
 * mismatch that says little).  Only on the failure path, with violations
 * wanted. */
static char *
closest_failure (SchemaNode      **alternatives,
                 guint             n_alternatives,
                 JsonNode         *inst,
                 const PathFrame  *path,
                 guint             depth,
                 Ctx              *ctx,
                 guint            *index)
{
  g_autofree char *here = build_instance_path (path);
  g_autoptr(SluiceViolation) best = NULL;
  guint best_rank = G_MAXUINT;

  for (guint i = 0; i < n_alternatives; i++)
    {
      g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
      Ctx sub = { found, 8, 0, ctx->frames, FALSE, ctx->scope, TRUE, ctx->budget };
      SluiceViolation *first;
      guint rank;

      validate_node (alternatives[i], inst, path, depth, &sub, NULL);
      if (found->len == 0)
        continue;
      first = g_ptr_array_index (found, 0);
      rank = found->len;
      if (g_str_has_suffix (first->keyword_path, "/type") && strcmp (first->instance_path, here) == 0)
        rank += 1000;
      if (alternatives[i]->is_false)
        rank += 2000;
      if (rank < best_rank)
        {
          best_rank = rank;
          g_clear_pointer (&best, sluice_violation_free);
          best = g_ptr_array_steal_index (found, 0);
          *index = i;
        }
    }
  /* every alternative wants another type: nothing closer to say */
  if (best == NULL || best_rank >= 1000)
    return NULL;
  if (strcmp (best->instance_path, here) != 0)
    return g_strdup_printf ("%s: %s", best->instance_path, best->message);
  return g_steal_pointer (&best->message);
}

static char *
alternatives_message (const SchemaNode *n,
                      const char       *keyword,
                      SchemaNode      **alternatives,
                      guint             total,
                      guint             matched,
                      JsonNode         *inst,
                      const PathFrame  *path,
                      guint             depth,
                      Ctx              *ctx)
{
  g_autofree char *why = NULL;
  guint index = 0;

  if (matched > 1)
    return g_strdup_printf ("value matches %u alternatives, expected exactly one", matched);
  /* one level of explanation: nested ones would re-validate the subtree
   * once per alternative per level */
  if (!ctx->explaining)
    why = closest_failure (alternatives, total, inst, path, depth, ctx, &index);
  if (total == 1)
    return why != NULL ? g_strdup_printf ("value does not match the only alternative (%s)", why)
                       : g_strdup ("value does not match the only alternative");
  if (why == NULL)
    return g_strdup_printf ("value matches none of the %u alternatives", total);
  return g_strdup_printf ("value matches none of the %u alternatives; the closest, %s/%s/%u, fails: %s",
                          total, n->path, keyword, index, why);
}

/* Where `$dynamicRef` leads now: the outermost resource in the dynamic
 * scope that has the anchor, else the static target. */
static const SchemaNode *
resolve_dynamic_ref (const SchemaNode *n,
                     const Ctx        *ctx)
{
  const SchemaNode *target = n->dynamic_ref;

  if (n->dynamic_ref_anchor == NULL)
    return target;
  for (const ScopeFrame *f = ctx->scope; f != NULL; f = f->parent)
    if (f->resource->dynamic_anchors != NULL)
      {
        const SchemaNode *found = g_hash_table_lookup (f->resource->dynamic_anchors, n->dynamic_ref_anchor);

        if (found != NULL)
          target = found;
      }
  return target;
}

/* anyOf, oneOf and if/then/else, whose branches contribute annotations
 * only when they pass. */
static gboolean
validate_branches (const SchemaNode *n,
                   JsonNode         *inst,
                   const PathFrame  *path,
                   guint             depth,
                   Ctx              *ctx,
                   Eval             *ev)
{
  gboolean valid = TRUE;

  if (n->has & HAS_ANY_OF)
    {
      guint matched = 0;

      /* with annotations to collect, every branch counts */
      for (guint i = 0; i < n->n_any_of && (matched == 0 || ev != NULL); i++)
        {
          Eval branch = { 0 };

          if (probe (n->any_of[i], inst, path, depth, ctx, ev != NULL ? &branch : NULL))
            {
              matched++;
              if (ev != NULL)
                eval_merge (ev, &branch);
            }
          eval_clear (&branch);
        }
      if (matched == 0)
        REPORT ("anyOf", path,
                alternatives_message (n, "anyOf", n->any_of, n->n_any_of, 0, inst, path, depth, ctx));
    }

  if (n->has & HAS_ONE_OF)
    {
      guint matched = 0;

      /* counting every match costs only on failure-free oneOf, which must
       * check them all anyway */
      for (guint i = 0; i < n->n_one_of; i++)
        {
          Eval branch = { 0 };

          if (probe (n->one_of[i], inst, path, depth, ctx, ev != NULL ? &branch : NULL))
            {
              matched++;
              if (ev != NULL)
                eval_merge (ev, &branch);
            }
          eval_clear (&branch);
        }
      if (matched != 1)
        REPORT ("oneOf", path,
                alternatives_message (n, "oneOf", n->one_of, n->n_one_of, matched, inst, path, depth, ctx));
    }

  if (n->has & HAS_IF)
    {
      Eval branch = { 0 };
      gboolean holds = probe (n->if_, inst, path, depth, ctx, ev != NULL ? &branch : NULL);
      const SchemaNode *next = holds ? n->then_ : n->else_;

      if (holds && ev != NULL)
        eval_merge (ev, &branch);
      eval_clear (&branch);
      if (next != NULL)
        CHECK (validate_node (next, inst, path, depth, ctx, ev));
    }
  return valid;
}

/* Every keyword but the unevaluated ones.  Inlined into validate_node():
 * one call per subschema is what the pre-split validator cost. */
G_ALWAYS_INLINE static inline gboolean
validate_applicators (const SchemaNode *n,
                      JsonNode         *inst,
                      const PathFrame  *path,
                      guint             depth,
                      Ctx              *ctx,
                      Eval             *ev)
{
  gboolean valid = TRUE;
  Num num = { 0 };
  guint itype = schema_instance_type (inst, &num);

  if ((n->has & HAS_TYPE) && !(itype & n->type_mask))
    {
      /* the node's other keywords would only restate the mismatch */
      REPORT ("type", path, type_message (n, itype));
      return FALSE;
    }

  if ((n->has & HAS_ENUM) && !enum_contains (n, inst, itype, &num))
    REPORT ("enum", path, enum_message (n));
  if ((n->has & HAS_CONST) && !schema_json_equal (n->const_value, inst, 0))
    REPORT ("const", path, const_message (n));

  if ((itype & T_NUMBER) && (n->has & NUMBER_KEYWORDS))
    CHECK (validate_number (n, &num, path, ctx));
  else if ((itype & T_STRING) && (n->has & STRING_KEYWORDS))
    CHECK (validate_string (n, json_node_get_string (inst), path, ctx));
  else if ((itype & T_OBJECT) && (n->has & OBJECT_KEYWORDS))
    {
      JsonObject *object = json_node_get_object (inst);

      CHECK (validate_object (n, object, path, depth, ctx, ev));
      for (guint i = 0; i < n->n_dep_schemas; i++)
        if (json_object_has_member (object, n->dep_schemas[i].name))
          CHECK (validate_node (n->dep_schemas[i].schema, inst, path, depth, ctx, ev));
    }
  else if ((itype & T_ARRAY) && (n->has & ARRAY_KEYWORDS))
    CHECK (validate_array (n, json_node_get_array (inst), path, depth, ctx, ev));

  /* one test for the applicators most schemas do not use */
  if (n->has & (HAS_ALL_OF | HAS_ANY_OF | HAS_ONE_OF | HAS_IF | HAS_NOT | HAS_DYNAMIC_REF))
    {
      for (guint i = 0; i < n->n_all_of; i++)
        CHECK (validate_node (n->all_of[i], inst, path, depth, ctx, ev));

      if (n->has & (HAS_ANY_OF | HAS_ONE_OF | HAS_IF))
        CHECK (validate_branches (n, inst, path, depth, ctx, ev));

      if ((n->has & HAS_NOT) && probe (n->not, inst, path, depth, ctx, NULL))
        REPORT ("not", path, g_strdup ("value must not match the schema in 'not'"));

      if (n->dynamic_ref != NULL)
        CHECK (validate_node (resolve_dynamic_ref (n, ctx), inst, path, depth, ctx, ev));
    }

  if (n->ref != NULL)
    CHECK (validate_node (n->ref, inst, path, depth, ctx, ev));

  return valid;
}

static gboolean
validate_unevaluated (const SchemaNode *n,
                      JsonNode         *inst,
                      const PathFrame  *path,
                      guint             depth,
                      Ctx              *ctx,
                      Eval             *ev)
{
  gboolean valid = TRUE;

  if ((n->has & HAS_UNEVAL_PROPS) && JSON_NODE_HOLDS_OBJECT (inst))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, json_node_get_object (inst));
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          PathFrame child = { path, name, 0 };

          if (eval_has_prop (ev, name))
            continue;
          if (n->unevaluated_props->is_false)
            REPORT ("unevaluatedProperties", &child,
                    g_strdup_printf ("property '%s' is not allowed here (no keyword evaluates it)", name));
          else
            CHECK (descend (n->unevaluated_props, member, &child, depth + 1, ctx));
        }
      ev->all_props = TRUE;
    }

  if ((n->has & HAS_UNEVAL_ITEMS) && JSON_NODE_HOLDS_ARRAY (inst))
    {
      JsonArray *array = json_node_get_array (inst);
      guint len = json_array_get_length (array);

      for (guint i = 0; i < len; i++)
        {
          PathFrame child = { path, NULL, i };

          if (eval_has_item (ev, i))
            continue;
          if (n->unevaluated_items->is_false)
            REPORT ("unevaluatedItems", &child,
                    g_strdup_printf ("item %u is not allowed here (no keyword evaluates it)", i));
          else
            CHECK (descend (n->unevaluated_items, json_array_get_element (array, i), &child, depth + 1, ctx));
        }
      ev->all_items = TRUE;
    }
  return valid;
}

/* A node with unevaluatedProperties or unevaluatedItems: they see only the
 * annotations of this node's own keywords. */
static gboolean
validate_with_annotations (const SchemaNode *n,
                           JsonNode         *inst,
                           const PathFrame  *path,
                           guint             depth,
                           Ctx              *ctx,
                           Eval             *ev)
{
  Eval local = { 0 };
  gboolean valid = validate_applicators (n, inst, path, depth, ctx, &local);

  if (!ctx->stop && !validate_unevaluated (n, inst, path, depth, ctx, &local))
    valid = FALSE;
  if (valid && ev != NULL)
    eval_merge (ev, &local);
  eval_clear (&local);
  return valid;
}

G_ALWAYS_INLINE static inline gboolean
validate_keywords (const SchemaNode *n,
                   JsonNode         *inst,
                   const PathFrame  *path,
                   guint             depth,
                   Ctx              *ctx,
                   Eval             *ev)
{
  if (G_LIKELY (!(n->has & (HAS_UNEVAL_PROPS | HAS_UNEVAL_ITEMS))))
    return validate_applicators (n, inst, path, depth, ctx, ev);
  return validate_with_annotations (n, inst, path, depth, ctx, ev);
}

static gboolean
validate_node (const SchemaNode *n,
               JsonNode         *inst,
               const PathFrame  *path,
               guint             depth,
               Ctx              *ctx,
               Eval             *ev)
{
  gboolean valid = TRUE;
  const ScopeFrame *saved_scope = ctx->scope;
  ScopeFrame scope;

  if (n->is_false)
    {
      REPORT (NULL, path, g_strdup ("no value is allowed here"));
      return FALSE;
    }
  if (n->has == 0)
    return TRUE;
  if (ctx->frames >= MAX_FRAMES)
    {
      REPORT (NULL, path, g_strdup ("the schema nests too deeply to check this value"));
      return FALSE;
    }
  if (G_UNLIKELY (++ctx->budget->visits > MAX_VISITS))
    {
      /* sluice_schema_validate() reports it once */
      ctx->budget->exhausted = TRUE;
      ctx->stop = TRUE;
      return FALSE;
    }

  if (ctx->scope == NULL || ctx->scope->resource != n->resource)
    {
      scope.parent = ctx->scope;
      scope.resource = n->resource;
      ctx->scope = &scope;
    }
  ctx->frames++;
  valid = validate_keywords (n, inst, path, depth, ctx, ev);
  ctx->frames--;
  ctx->scope = saved_scope;
  return valid;
}

/**
 * sluice_schema_validate:
 * @s: a compiled schema
 * @instance: the value to check
 * @violations: (nullable) (element-type SluiceViolation): array to append
 *   violations to (give it sluice_violation_free() as free function), or
 *   %NULL to only get the verdict
 * @max_violations: stop after appending this many; 0 behaves like a %NULL
 *   @violations
 *
 * Validates @instance.  Safe to call from several threads on the same schema.
 * Allocates nothing when the instance is valid, unless the schema uses
 * unevaluatedProperties or unevaluatedItems, or a propertyNames schema
 * with more than string keywords.
 *
 * Returns: %TRUE if @instance is valid
 */
gboolean
sluice_schema_validate (SluiceSchema *s,
                        JsonNode     *instance,
                        GPtrArray    *violations,
                        guint         max_violations)
{
  Budget budget = { 0, FALSE, FALSE, 0 };
  Ctx ctx = { 0 };
  guint first = violations != NULL ? violations->len : 0;
  gboolean valid;

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (instance != NULL, FALSE);

  if (max_violations > 0)
    ctx.out = violations;
  ctx.max = max_violations;
  ctx.budget = &budget;
  valid = validate_node (s->root, instance, NULL, 0, &ctx, NULL);
  if (budget.exhausted && ctx.out != NULL)
    {
      SluiceViolation *v = g_new0 (SluiceViolation, 1);

      /* what was found before giving up may be wrong: alternatives were
       * cut short */
      g_ptr_array_remove_range (violations, first, violations->len - first);
      v->instance_path = g_strdup ("");
      v->keyword_path = g_strdup (s->root->path);
      v->message = budget.by_patterns || budget.pattern_visits > MAX_VISITS / 2
        ? g_strdup_printf ("the value is too costly to check against this schema (its patterns took "
                           "more than the %" G_GUINT64_FORMAT " matching steps allowed, less its "
                           "subschema visits)", (guint64) MAX_VISITS * REGEX_STEPS_PER_VISIT)
        : g_strdup_printf ("the value is too costly to check against this schema "
                           "(more than %u subschema visits)", MAX_VISITS);
      g_ptr_array_add (violations, v);
    }
  return valid && !budget.exhausted;
}

/**
 * sluice_schema_check:
 * @s: a compiled schema
 * @instance: the value to check
 * @error: return location for a %SLUICE_SCHEMA_ERROR_VIOLATION error whose
 *   message is "<instance path or "/">: <message>" of the first violation
 *
 * Returns: %TRUE if @instance is valid
 */
gboolean
sluice_schema_check (SluiceSchema  *s,
                     JsonNode      *instance,
                     GError       **error)
{
  g_autoptr(GPtrArray) violations = NULL;
  SluiceViolation *v;

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (instance != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (error == NULL)
    return sluice_schema_validate (s, instance, NULL, 0);

  violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
  if (sluice_schema_validate (s, instance, violations, 1))
    return TRUE;

  g_assert (violations->len > 0);
  v = g_ptr_array_index (violations, 0);
  g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_VIOLATION, "%s: %s",
               v->instance_path[0] != '\0' ? v->instance_path : "/", v->message);
  return FALSE;
}
