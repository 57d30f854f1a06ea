/* sluice-schema-compile.c — one subschema to a SchemaNode
 *
 * Walks a subschema through the keywords that hold subschemas only (an
 * `$id` inside `enum` or an unknown keyword is data, not an identifier),
 * checks each keyword's value and fills the node.  Identifiers (`$id`,
 * `$anchor`, `$dynamicAnchor`, draft 7's `"$id": "#name"`) are recorded
 * under their absolute URIs as the walk meets them; `$ref` and
 * `$dynamicRef` are only recorded, for sluice-schema-resolve.c to link once
 * every document is compiled.
 *
 * The dialect decides which keywords exist (draft 7 has `dependencies`,
 * `additionalItems` and the array form of `items`; 2020-12 has
 * `prefixItems`, `$anchor`, `$dynamicRef`, `unevaluated*` ...) and, for a
 * custom metaschema, which vocabularies are on.  In draft 7, `$ref` makes
 * its siblings ignored.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-compile-private.h"
#include "sluice.h"

#include <math.h>
#include <string.h>

typedef enum {
  KW_UNKNOWN,
  KW_IGNORED,
  KW_TYPE,
  KW_ENUM,
  KW_CONST,
  KW_MINIMUM,
  KW_MAXIMUM,
  KW_EXCL_MIN,
  KW_EXCL_MAX,
  KW_MULTIPLE_OF,
  KW_MIN_LENGTH,
  KW_MAX_LENGTH,
  KW_PATTERN,
  KW_FORMAT,
  KW_PROPERTIES,
  KW_PATTERN_PROPS,
  KW_ADDITIONAL,
  KW_REQUIRED,
  KW_DEP_REQUIRED,
  KW_DEP_SCHEMAS,
  KW_DEPENDENCIES,
  KW_PROPERTY_NAMES,
  KW_MIN_PROPS,
  KW_MAX_PROPS,
  KW_PREFIX_ITEMS,
  KW_ITEMS,
  KW_ADDITIONAL_ITEMS,
  KW_CONTAINS,
  KW_MIN_CONTAINS,
  KW_MAX_CONTAINS,
  KW_MIN_ITEMS,
  KW_MAX_ITEMS,
  KW_UNIQUE,
  KW_ALL_OF,
  KW_ANY_OF,
  KW_ONE_OF,
  KW_NOT,
  KW_IF,
  KW_THEN,
  KW_ELSE,
  KW_REF,
  KW_DYNAMIC_REF,
  KW_DEFS,
  KW_UNEVAL_PROPS,
  KW_UNEVAL_ITEMS,
} Keyword;

#define D7   (1 << SLUICE_SCHEMA_DRAFT_7)
#define D20  (1 << SLUICE_SCHEMA_DRAFT_2020_12)

static const struct {
  const char *name;
  Keyword     kw;
  guint8      drafts;
  guint16     vocabulary;  /* the 2020-12 vocabulary it belongs to */
} keywords[] = {
  { "type", KW_TYPE, D7 | D20, VOC_VALIDATION },
  { "enum", KW_ENUM, D7 | D20, VOC_VALIDATION },
  { "const", KW_CONST, D7 | D20, VOC_VALIDATION },
  { "minimum", KW_MINIMUM, D7 | D20, VOC_VALIDATION },
  { "maximum", KW_MAXIMUM, D7 | D20, VOC_VALIDATION },
  { "exclusiveMinimum", KW_EXCL_MIN, D7 | D20, VOC_VALIDATION },
  { "exclusiveMaximum", KW_EXCL_MAX, D7 | D20, VOC_VALIDATION },
  { "multipleOf", KW_MULTIPLE_OF, D7 | D20, VOC_VALIDATION },
  { "minLength", KW_MIN_LENGTH, D7 | D20, VOC_VALIDATION },
  { "maxLength", KW_MAX_LENGTH, D7 | D20, VOC_VALIDATION },
  { "pattern", KW_PATTERN, D7 | D20, VOC_VALIDATION },
  { "format", KW_FORMAT, D7 | D20, VOC_FORMAT_ANNOTATION | VOC_FORMAT_ASSERTION },
  { "properties", KW_PROPERTIES, D7 | D20, VOC_APPLICATOR },
  { "patternProperties", KW_PATTERN_PROPS, D7 | D20, VOC_APPLICATOR },
  { "additionalProperties", KW_ADDITIONAL, D7 | D20, VOC_APPLICATOR },
  { "required", KW_REQUIRED, D7 | D20, VOC_VALIDATION },
  { "dependentRequired", KW_DEP_REQUIRED, D20, VOC_VALIDATION },
  { "dependentSchemas", KW_DEP_SCHEMAS, D20, VOC_APPLICATOR },
  /* split into the two above in 2019-09; still honoured there, as the
   * suite's optional dependencies-compatibility expects, so that schemas
   * written for draft 7 keep their meaning */
  { "dependencies", KW_DEPENDENCIES, D7 | D20, VOC_APPLICATOR },
  { "propertyNames", KW_PROPERTY_NAMES, D7 | D20, VOC_APPLICATOR },
  { "minProperties", KW_MIN_PROPS, D7 | D20, VOC_VALIDATION },
  { "maxProperties", KW_MAX_PROPS, D7 | D20, VOC_VALIDATION },
  { "prefixItems", KW_PREFIX_ITEMS, D20, VOC_APPLICATOR },
  { "items", KW_ITEMS, D7 | D20, VOC_APPLICATOR },
  { "additionalItems", KW_ADDITIONAL_ITEMS, D7, 0 },
  { "contains", KW_CONTAINS, D7 | D20, VOC_APPLICATOR },
  { "minContains", KW_MIN_CONTAINS, D20, VOC_VALIDATION },
  { "maxContains", KW_MAX_CONTAINS, D20, VOC_VALIDATION },
  { "minItems", KW_MIN_ITEMS, D7 | D20, VOC_VALIDATION },
  { "maxItems", KW_MAX_ITEMS, D7 | D20, VOC_VALIDATION },
  { "uniqueItems", KW_UNIQUE, D7 | D20, VOC_VALIDATION },
  { "allOf", KW_ALL_OF, D7 | D20, VOC_APPLICATOR },
  { "anyOf", KW_ANY_OF, D7 | D20, VOC_APPLICATOR },
  { "oneOf", KW_ONE_OF, D7 | D20, VOC_APPLICATOR },
  { "not", KW_NOT, D7 | D20, VOC_APPLICATOR },
  { "if", KW_IF, D7 | D20, VOC_APPLICATOR },
  { "then", KW_THEN, D7 | D20, VOC_APPLICATOR },
  { "else", KW_ELSE, D7 | D20, VOC_APPLICATOR },
  { "$ref", KW_REF, D7 | D20, VOC_CORE },
  { "$dynamicRef", KW_DYNAMIC_REF, D20, VOC_CORE },
  { "$defs", KW_DEFS, D20, VOC_CORE },
  /* not a 2020-12 keyword, but schemas keep using it; compiling it early
   * only means its errors are found early */
  { "definitions", KW_DEFS, D7 | D20, 0 },
  { "unevaluatedProperties", KW_UNEVAL_PROPS, D20, VOC_UNEVALUATED },
  { "unevaluatedItems", KW_UNEVAL_ITEMS, D20, VOC_UNEVALUATED },
  /* identifiers (handled before the keywords) and annotations */
  { "$schema", KW_IGNORED, D7 | D20, 0 },
  { "$id", KW_IGNORED, D7 | D20, 0 },
  { "$anchor", KW_IGNORED, D20, 0 },
  { "$dynamicAnchor", KW_IGNORED, D20, 0 },
  { "$vocabulary", KW_IGNORED, D20, 0 },
  { "$comment", KW_IGNORED, D7 | D20, 0 },
};

static Keyword
lookup_keyword (const char *name,
                Dialect     dialect)
{
  for (guint i = 0; i < G_N_ELEMENTS (keywords); i++)
    if (strcmp (keywords[i].name, name) == 0)
      {
        if (!(keywords[i].drafts & (1 << dialect.draft)))
          return KW_UNKNOWN;
        /* a vocabulary the metaschema turns off makes its keywords annotations */
        if (dialect.draft == SLUICE_SCHEMA_DRAFT_2020_12 && keywords[i].vocabulary != 0 &&
            !(keywords[i].vocabulary & dialect.vocabularies))
          return KW_UNKNOWN;
        return keywords[i].kw;
      }
  return KW_UNKNOWN;
}

/* ------------------------------------------------------------------------ */
/* Keywords                                                                  */

/* Everything a keyword's compiler needs to know about where it is. */
typedef struct {
  Compiler       *cc;
  Doc            *doc;
  SchemaNode     *n;
  const char     *pointer;   /* the node's pointer inside its document */
  SchemaResource *resource;
  Dialect         dialect;
  guint           depth;
} Site;

static char *
site_location (const Site *site,
               const char *name)
{
  return sluice_json_pointer_append (site->n->path, name);
}

/* Compiles the subschema at pointer/token(/token2). */
static SchemaNode *
compile_child (const Site *site,
               JsonNode   *json,
               const char *token,
               const char *token2)
{
  g_autofree char *pointer = sluice_json_pointer_append (site->pointer, token);

  if (token2 != NULL)
    {
      g_autofree char *inner = g_steal_pointer (&pointer);

      pointer = sluice_json_pointer_append (inner, token2);
    }
  return schema_compile_node (site->cc, site->doc, json, pointer, site->resource, site->dialect, site->depth + 1);
}

static gboolean
compile_number (Compiler   *cc,
                const char *location,
                const char *keyword,
                JsonNode   *value,
                Num        *out)
{
  if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_BOOLEAN &&
      g_str_has_prefix (keyword, "exclusive"))
    return schema_compile_fail (cc, location,
                         "'%s' must be a number (the boolean form is draft 4 syntax)", keyword);
  if (!schema_num_from_node (value, out))
    return schema_compile_fail (cc, location, "'%s' must be a number, got %s", keyword, schema_json_kind_name (value));
  if (!isfinite (out->d))
    return schema_compile_fail (cc, location, "'%s' must be a finite number", keyword);
  return TRUE;
}

static gboolean
compile_count (Compiler   *cc,
               const char *location,
               const char *keyword,
               JsonNode   *value,
               guint64    *out)
{
  Num num;

  if (!schema_num_from_node (value, &num) || !schema_num_is_integral (&num) || (num.is_int ? num.i < 0 : num.d < 0))
    return schema_compile_fail (cc, location, "'%s' must be a non-negative integer", keyword);
  if (num.is_int)
    *out = (guint64) num.i;
  else
    *out = num.d >= 1.8e19 ? G_MAXUINT64 : (guint64) num.d;
  return TRUE;
}

static gboolean
compile_type (Compiler   *cc,
              SchemaNode *n,
              const char *location,
              JsonNode   *value)
{
  JsonArray *array = NULL;
  guint len = 1;

  if (JSON_NODE_HOLDS_ARRAY (value))
    {
      array = json_node_get_array (value);
      len = json_array_get_length (array);
    }
  else if (!schema_holds_string (value))
    return schema_compile_fail (cc, location, "'type' must be a string or an array of strings");

  for (guint i = 0; i < len; i++)
    {
      JsonNode *element = array != NULL ? json_array_get_element (array, i) : value;
      g_autofree char *where = NULL;
      const char *name;
      guint t;

      if (array != NULL)
        where = g_strdup_printf ("%s/%u", location, i);
      if (!schema_holds_string (element))
        return schema_compile_fail (cc, where != NULL ? where : location,
                             "'type' must be a string or an array of strings");
      name = json_node_get_string (element);
      for (t = 0; t < N_TYPE_NAMES; t++)
        if (strcmp (schema_type_names[t].name, name) == 0)
          break;
      if (t == N_TYPE_NAMES)
        return schema_compile_fail (cc, where != NULL ? where : location,
                             "unknown type '%s' (expected null, boolean, object, array, number, string or integer)",
                             name);
      if (n->type_mask & schema_type_names[t].bit)
        return schema_compile_fail (cc, where != NULL ? where : location, "type '%s' is listed twice", name);
      n->type_mask |= schema_type_names[t].bit;
      n->type_order[n->n_types++] = (guint8) t;
    }
  n->has |= HAS_TYPE;
  return TRUE;
}

static gboolean
compile_enum (Compiler   *cc,
              SchemaNode *n,
              const char *location,
              JsonNode   *value)
{
  JsonArray *array;
  guint n_strings = 0;

  if (!JSON_NODE_HOLDS_ARRAY (value))
    return schema_compile_fail (cc, location, "'enum' must be an array");
  array = json_node_get_array (value);
  n->n_enum = json_array_get_length (array);
  n->enum_values = g_new0 (JsonNode *, MAX (n->n_enum, 1));
  n->enum_scalars = g_new0 (EnumScalar, MAX (n->n_enum, 1));
  for (guint i = 0; i < n->n_enum; i++)
    {
      n->enum_values[i] = json_node_copy (json_array_get_element (array, i));
      if (schema_holds_string (n->enum_values[i]))
        {
          n_strings++;
          n->enum_scalars[i].kind = T_STRING;
          n->enum_scalars[i].str = json_node_get_string (n->enum_values[i]);
        }
      else if (schema_num_from_node (n->enum_values[i], &n->enum_scalars[i].num))
        n->enum_scalars[i].kind = T_NUMBER;
    }
  if (n_strings > SMALL_SET)
    {
      n->enum_strings = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < n->n_enum; i++)
        if (schema_holds_string (n->enum_values[i]))
          g_hash_table_add (n->enum_strings, (gpointer) json_node_get_string (n->enum_values[i]));
    }
  n->has |= HAS_ENUM;
  return TRUE;
}

static SluiceRegex *
compile_regex (Compiler   *cc,
               const char *location,
               const char *source)
{
  g_autoptr(GError) local_error = NULL;
  SluiceRegex *regex = schema_regex_new (source, &local_error);

  if (regex == NULL)
    schema_compile_fail (cc, location, "invalid regular expression: %s", local_error->message);
  return regex;
}

static gboolean
compile_pattern (Compiler   *cc,
                 SchemaNode *n,
                 const char *location,
                 JsonNode   *value)
{
  if (!schema_holds_string (value))
    return schema_compile_fail (cc, location, "'pattern' must be a string");
  n->pattern_source = g_strdup (json_node_get_string (value));
  n->pattern = compile_regex (cc, location, n->pattern_source);
  if (n->pattern == NULL)
    return FALSE;
  n->has |= HAS_PATTERN;
  return TRUE;
}

static gboolean
compile_properties (const Site *site,
                    const char *location,
                    const char *keyword,
                    JsonNode   *value,
                    Prop      **out,
                    guint      *n_out)
{
  JsonObject *object;
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  guint i = 0;

  if (!JSON_NODE_HOLDS_OBJECT (value))
    return schema_compile_fail (site->cc, location, "'%s' must be an object of schemas", keyword);
  object = json_node_get_object (value);

  if (out != NULL)
    {
      *n_out = json_object_get_size (object);
      *out = g_new0 (Prop, MAX (*n_out, 1));
    }

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      SchemaNode *child = compile_child (site, member, keyword, name);

      if (child == NULL)
        return FALSE;
      if (out != NULL)
        {
          (*out)[i].name = g_strdup (name);
          (*out)[i].schema = child;
          i++;
        }
    }
  return TRUE;
}

static gboolean
compile_pattern_properties (const Site *site,
                            const char *location,
                            JsonNode   *value)
{
  SchemaNode *n = site->n;
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  guint i = 0;

  if (!JSON_NODE_HOLDS_OBJECT (value))
    return schema_compile_fail (site->cc, location, "'patternProperties' must be an object of schemas");
  n->n_pattern_props = json_object_get_size (json_node_get_object (value));
  n->pattern_props = g_new0 (PatternProp, MAX (n->n_pattern_props, 1));
  json_object_iter_init_ordered (&iter, json_node_get_object (value));
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      g_autofree char *where = sluice_json_pointer_append (location, name);
      PatternProp *pp = &n->pattern_props[i++];

      pp->source = g_strdup (name);
      pp->regex = compile_regex (site->cc, where, name);
      if (pp->regex == NULL)
        return FALSE;
      pp->schema = compile_child (site, member, "patternProperties", name);
      if (pp->schema == NULL)
        return FALSE;
    }
  n->has |= HAS_PATTERN_PROPS;
  return TRUE;
}

static gboolean
compile_schema_list (const Site   *site,
                     const char   *location,
                     const char   *keyword,
                     JsonNode     *value,
                     gboolean      allow_empty,
                     SchemaNode ***out,
                     guint        *n_out)
{
  JsonArray *array;
  guint len;

  if (!JSON_NODE_HOLDS_ARRAY (value) ||
      (!allow_empty && json_array_get_length (json_node_get_array (value)) == 0))
    return schema_compile_fail (site->cc, location, "'%s' must be a non-empty array of schemas", keyword);
  array = json_node_get_array (value);
  len = json_array_get_length (array);
  *out = g_new0 (SchemaNode *, MAX (len, 1));
  *n_out = len;
  for (guint i = 0; i < len; i++)
    {
      char index[16];

      g_snprintf (index, sizeof index, "%u", i);
      (*out)[i] = compile_child (site, json_array_get_element (array, i), keyword, index);
      if ((*out)[i] == NULL)
        return FALSE;
    }
  return TRUE;
}

static char **
compile_string_list (Compiler   *cc,
                     const char *location,
                     const char *keyword,
                     JsonNode   *value)
{
  JsonArray *array;
  guint len;
  g_auto(GStrv) names = NULL;

  if (!JSON_NODE_HOLDS_ARRAY (value))
    {
      schema_compile_fail (cc, location, "'%s' must be an array of strings", keyword);
      return NULL;
    }
  array = json_node_get_array (value);
  len = json_array_get_length (array);
  names = g_new0 (char *, len + 1);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      g_autofree char *where = g_strdup_printf ("%s/%u", location, i);

      if (!schema_holds_string (element))
        {
          schema_compile_fail (cc, where, "'%s' must be an array of strings", keyword);
          return NULL;
        }
      if (g_strv_contains ((const char * const *) names, json_node_get_string (element)))
        {
          schema_compile_fail (cc, where, "'%s' is listed twice in '%s'", json_node_get_string (element), keyword);
          return NULL;
        }
      names[i] = g_strdup (json_node_get_string (element));
    }
  return g_steal_pointer (&names);
}

static gboolean
compile_required (Compiler   *cc,
                  SchemaNode *n,
                  const char *location,
                  JsonNode   *value)
{
  n->required = compile_string_list (cc, location, "required", value);
  if (n->required == NULL)
    return FALSE;
  n->n_required = g_strv_length (n->required);
  n->has |= HAS_REQUIRED;
  return TRUE;
}

/* dependentRequired, dependentSchemas, and draft 7's dependencies, which
 * holds both kinds. */
static gboolean
compile_dependencies (const Site *site,
                      const char *location,
                      const char *keyword,
                      JsonNode   *value,
                      gboolean    arrays,
                      gboolean    schemas)
{
  SchemaNode *n = site->n;
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  guint size;

  if (!JSON_NODE_HOLDS_OBJECT (value))
    return schema_compile_fail (site->cc, location, "'%s' must be an object", keyword);
  size = json_object_get_size (json_node_get_object (value));
  if (arrays)
    n->dep_required = g_renew (DepRequired, n->dep_required, n->n_dep_required + size + 1);
  if (schemas)
    n->dep_schemas = g_renew (Prop, n->dep_schemas, n->n_dep_schemas + size + 1);

  json_object_iter_init_ordered (&iter, json_node_get_object (value));
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      g_autofree char *where = sluice_json_pointer_append (location, name);

      if (arrays && JSON_NODE_HOLDS_ARRAY (member))
        {
          char **names = compile_string_list (site->cc, where, keyword, member);

          if (names == NULL)
            return FALSE;
          n->dep_required[n->n_dep_required].name = g_strdup (name);
          n->dep_required[n->n_dep_required].required = names;
          n->n_dep_required++;
          n->has |= HAS_DEP_REQUIRED;
        }
      else if (schemas)
        {
          SchemaNode *child = compile_child (site, member, keyword, name);

          if (child == NULL)
            return FALSE;
          n->dep_schemas[n->n_dep_schemas].name = g_strdup (name);
          n->dep_schemas[n->n_dep_schemas].schema = child;
          n->n_dep_schemas++;
          n->has |= HAS_DEP_SCHEMAS;
        }
      else
        return schema_compile_fail (site->cc, where, "'%s' must map names to arrays of strings", keyword);
    }
  return TRUE;
}

/* Records a `$ref` or `$dynamicRef` to link once every document is
 * compiled. */
static gboolean
compile_ref (const Site *site,
             const char *location,
             const char *keyword,
             JsonNode   *value,
             gboolean    dynamic)
{
  PendingRef pr = { 0 };

  if (!schema_holds_string (value))
    return schema_compile_fail (site->cc, location, "'%s' must be a string", keyword);
  pr.node = site->n;
  pr.location = g_strdup (location);
  pr.text = g_strdup (json_node_get_string (value));
  pr.base = g_strdup (site->resource->uri);
  pr.dynamic = dynamic;
  g_array_append_val (site->cc->pending, pr);
  site->n->has |= dynamic ? HAS_DYNAMIC_REF : HAS_REF;
  return TRUE;
}

static gboolean
compile_format (const Site *site,
                const char *location,
                JsonNode   *value)
{
  SchemaNode *n = site->n;

  if (!schema_holds_string (value))
    return schema_compile_fail (site->cc, location, "'format' must be a string");
  if (!(site->cc->flags & SLUICE_SCHEMA_ASSERT_FORMAT) &&
      !(site->dialect.draft == SLUICE_SCHEMA_DRAFT_2020_12 && (site->dialect.vocabularies & VOC_FORMAT_ASSERTION)))
    return TRUE;  /* an annotation */
  n->format = schema_format_lookup (json_node_get_string (value));
  if (n->format == FORMAT_NONE)
    return TRUE;  /* unknown formats are annotations even when asserting */
  n->format_name = g_strdup (json_node_get_string (value));
  n->has |= HAS_FORMAT;
  return TRUE;
}

static gboolean
compile_keyword (const Site *site,
                 const char *name,
                 JsonNode   *value,
                 JsonObject *object)
{
  Compiler *cc = site->cc;
  SchemaNode *n = site->n;
  Keyword kw = lookup_keyword (name, site->dialect);
  g_autofree char *loc = NULL;

  if (kw == KW_UNKNOWN || kw == KW_IGNORED)
    return TRUE;  /* unknown keywords are annotations (2020-12 §4.3.1) */

  loc = site_location (site, name);

  switch (kw)
    {
    case KW_TYPE:
      return compile_type (cc, n, loc, value);

    case KW_ENUM:
      return compile_enum (cc, n, loc, value);

    case KW_CONST:
      n->const_value = json_node_copy (value);
      n->has |= HAS_CONST;
      return TRUE;

    case KW_MINIMUM:
      n->has |= HAS_MINIMUM;
      return compile_number (cc, loc, name, value, &n->minimum);

    case KW_MAXIMUM:
      n->has |= HAS_MAXIMUM;
      return compile_number (cc, loc, name, value, &n->maximum);

    case KW_EXCL_MIN:
      n->has |= HAS_EXCL_MIN;
      return compile_number (cc, loc, name, value, &n->exclusive_minimum);

    case KW_EXCL_MAX:
      n->has |= HAS_EXCL_MAX;
      return compile_number (cc, loc, name, value, &n->exclusive_maximum);

    case KW_MULTIPLE_OF:
      n->has |= HAS_MULTIPLE_OF;
      if (!compile_number (cc, loc, name, value, &n->multiple_of))
        return FALSE;
      if (n->multiple_of.d <= 0)
        return schema_compile_fail (cc, loc, "'multipleOf' must be greater than 0");
      schema_num_to_decimal (&n->multiple_of, &n->multiple_of_decimal);
      return TRUE;

    case KW_MIN_LENGTH:
      n->has |= HAS_MIN_LENGTH;
      return compile_count (cc, loc, name, value, &n->min_length);

    case KW_MAX_LENGTH:
      n->has |= HAS_MAX_LENGTH;
      return compile_count (cc, loc, name, value, &n->max_length);

    case KW_PATTERN:
      return compile_pattern (cc, n, loc, value);

    case KW_FORMAT:
      return compile_format (site, loc, value);

    case KW_PROPERTIES:
      n->has |= HAS_PROPERTIES;
      if (!compile_properties (site, loc, name, value, &n->props, &n->n_props))
        return FALSE;
      if (n->n_props > SMALL_SET)
        {
          n->prop_index = g_hash_table_new (g_str_hash, g_str_equal);
          for (guint i = 0; i < n->n_props; i++)
            g_hash_table_insert (n->prop_index, n->props[i].name, &n->props[i]);
        }
      return TRUE;

    case KW_PATTERN_PROPS:
      return compile_pattern_properties (site, loc, value);

    case KW_ADDITIONAL:
      n->has |= HAS_ADDITIONAL;
      n->additional = compile_child (site, value, name, NULL);
      return n->additional != NULL;

    case KW_REQUIRED:
      return compile_required (cc, n, loc, value);

    case KW_DEP_REQUIRED:
      return compile_dependencies (site, loc, name, value, TRUE, FALSE);

    case KW_DEP_SCHEMAS:
      return compile_dependencies (site, loc, name, value, FALSE, TRUE);

    case KW_DEPENDENCIES:
      n->legacy_dependencies = TRUE;
      return compile_dependencies (site, loc, name, value, TRUE, TRUE);

    case KW_PROPERTY_NAMES:
      n->has |= HAS_PROPERTY_NAMES;
      n->property_names = compile_child (site, value, name, NULL);
      return n->property_names != NULL;

    case KW_MIN_PROPS:
      n->has |= HAS_MIN_PROPS;
      return compile_count (cc, loc, name, value, &n->min_props);

    case KW_MAX_PROPS:
      n->has |= HAS_MAX_PROPS;
      return compile_count (cc, loc, name, value, &n->max_props);

    case KW_PREFIX_ITEMS:
      n->has |= HAS_PREFIX_ITEMS;
      return compile_schema_list (site, loc, name, value, FALSE, &n->prefix_items, &n->n_prefix_items);

    case KW_ITEMS:
      if (JSON_NODE_HOLDS_ARRAY (value))
        {
          if (site->dialect.draft != SLUICE_SCHEMA_DRAFT_7)
            return schema_compile_fail (cc, loc,
                                 "'items' must be a schema; the array form is draft 7 syntax "
                                 "(use 'prefixItems' in draft 2020-12)");
          n->has |= HAS_PREFIX_ITEMS;
          if (!compile_schema_list (site, loc, name, value, TRUE, &n->prefix_items, &n->n_prefix_items))
            return FALSE;
          /* additionalItems only means something next to the array form */
          value = json_object_get_member (object, "additionalItems");
          if (value == NULL)
            return TRUE;
          name = "additionalItems";
        }
      n->has |= HAS_ITEMS;
      n->items = compile_child (site, value, name, NULL);
      return n->items != NULL;

    case KW_ADDITIONAL_ITEMS:
      {
        JsonNode *items = json_object_get_member (object, "items");
        SchemaNode *ignored;

        /* linked through 'items' above; still compiled so that errors and
         * `$id`s in it are found */
        if (items != NULL && JSON_NODE_HOLDS_ARRAY (items))
          return TRUE;
        ignored = compile_child (site, value, name, NULL);
        return ignored != NULL;
      }

    case KW_CONTAINS:
      n->has |= HAS_CONTAINS;
      n->contains = compile_child (site, value, name, NULL);
      return n->contains != NULL;

    case KW_MIN_CONTAINS:
      n->has |= HAS_MIN_CONTAINS;
      return compile_count (cc, loc, name, value, &n->min_contains);

    case KW_MAX_CONTAINS:
      n->has |= HAS_MAX_CONTAINS;
      return compile_count (cc, loc, name, value, &n->max_contains);

    case KW_MIN_ITEMS:
      n->has |= HAS_MIN_ITEMS;
      return compile_count (cc, loc, name, value, &n->min_items);

    case KW_MAX_ITEMS:
      n->has |= HAS_MAX_ITEMS;
      return compile_count (cc, loc, name, value, &n->max_items);

    case KW_UNIQUE:
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_BOOLEAN)
        return schema_compile_fail (cc, loc, "'uniqueItems' must be a boolean");
      if (json_node_get_boolean (value))
        n->has |= HAS_UNIQUE;
      return TRUE;

    case KW_ALL_OF:
      n->has |= HAS_ALL_OF;
      return compile_schema_list (site, loc, name, value, FALSE, &n->all_of, &n->n_all_of);

    case KW_ANY_OF:
      n->has |= HAS_ANY_OF;
      return compile_schema_list (site, loc, name, value, FALSE, &n->any_of, &n->n_any_of);

    case KW_ONE_OF:
      n->has |= HAS_ONE_OF;
      return compile_schema_list (site, loc, name, value, FALSE, &n->one_of, &n->n_one_of);

    case KW_NOT:
      n->has |= HAS_NOT;
      n->not = compile_child (site, value, name, NULL);
      return n->not != NULL;

    case KW_IF:
      n->has |= HAS_IF;
      n->if_ = compile_child (site, value, name, NULL);
      return n->if_ != NULL;

    case KW_THEN:
      n->then_ = compile_child (site, value, name, NULL);
      return n->then_ != NULL;

    case KW_ELSE:
      n->else_ = compile_child (site, value, name, NULL);
      return n->else_ != NULL;

    case KW_REF:
      return compile_ref (site, loc, name, value, FALSE);

    case KW_DYNAMIC_REF:
      return compile_ref (site, loc, name, value, TRUE);

    case KW_DEFS:
      return compile_properties (site, loc, name, value, NULL, NULL);

    case KW_UNEVAL_PROPS:
      n->has |= HAS_UNEVAL_PROPS;
      n->unevaluated_props = compile_child (site, value, name, NULL);
      return n->unevaluated_props != NULL;

    case KW_UNEVAL_ITEMS:
      n->has |= HAS_UNEVAL_ITEMS;
      n->unevaluated_items = compile_child (site, value, name, NULL);
      return n->unevaluated_items != NULL;

    case KW_UNKNOWN:
    case KW_IGNORED:
    default:
      g_assert_not_reached ();
    }
}

static gboolean
valid_anchor_name (const char *name)
{
  /* 2020-12: an XML NCName-like plain name */
  if (!g_ascii_isalpha (name[0]) && name[0] != '_')
    return FALSE;
  for (const char *p = name + 1; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

static gboolean
register_anchor (const Site *site,
                 const char *keyword,
                 const char *name)
{
  g_autofree char *uri = NULL;

  if (site->dialect.draft != SLUICE_SCHEMA_DRAFT_7 && !valid_anchor_name (name))
    {
      g_autofree char *loc = site_location (site, keyword);

      return schema_compile_fail (site->cc, loc, "'%s' must be a plain name (a letter or '_', then letters, digits, '-', '_', '.')",
                           keyword);
    }
  uri = g_strconcat (site->resource->uri, "#", name, NULL);
  schema_register_uri (site->cc, uri, site->doc, site->pointer, site->resource, site->dialect);
  return TRUE;
}

/* `$id`, `$schema` (at a resource root), `$anchor` and `$dynamicAnchor`:
 * may start a new resource, which the keywords then belong to. */
static gboolean
compile_identifiers (Site       *site,
                     JsonObject *object)
{
  Compiler *cc = site->cc;
  SchemaNode *n = site->n;
  JsonNode *id = json_object_get_member (object, "$id");
  JsonNode *anchor, *dynamic_anchor;

  if (id != NULL && site->depth > 0)
    {
      const char *text, *hash;
      g_autofree char *base_part = NULL;
      g_autofree char *uri = NULL;
      g_autofree char *loc = site_location (site, "$id");

      if (!schema_holds_string (id))
        return schema_compile_fail (cc, loc, "'$id' must be a string");
      text = json_node_get_string (id);
      hash = strchr (text, '#');
      if (site->dialect.draft == SLUICE_SCHEMA_DRAFT_7 && text[0] == '#')
        return text[1] == '\0' || register_anchor (site, "$id", text + 1);
      if (hash != NULL && hash[1] != '\0' && site->dialect.draft != SLUICE_SCHEMA_DRAFT_7)
        return schema_compile_fail (cc, loc, "'$id' must not have a fragment ('%s'); use '$anchor' for a name", text);

      base_part = hash != NULL ? g_strndup (text, (gsize) (hash - text)) : g_strdup (text);
      uri = schema_resolve_uri (site->resource->uri, base_part);
      if (uri == NULL)
        return schema_compile_fail (cc, loc, "'$id' ('%s') is not a valid URI reference", text);
      if (strcmp (uri, site->resource->uri) != 0)
        {
          JsonNode *schema = json_object_get_member (object, "$schema");

          if (schema != NULL)
            {
              g_autofree char *schema_loc = site_location (site, "$schema");

              if (!schema_holds_string (schema))
                return schema_compile_fail (cc, schema_loc, "'$schema' must be a string");
              if (!schema_dialect_from_uri (cc, schema_loc, json_node_get_string (schema), &site->dialect, 0))
                return FALSE;
            }
          site->resource = schema_new_resource (cc, uri);
          n->resource = site->resource;
          n->draft = site->dialect.draft;
          schema_register_uri (cc, uri, site->doc, site->pointer, site->resource, site->dialect);
        }
      if (hash != NULL && hash[1] != '\0' && !register_anchor (site, "$id", hash + 1))
        return FALSE;
    }

  if (site->dialect.draft == SLUICE_SCHEMA_DRAFT_7)
    return TRUE;

  anchor = json_object_get_member (object, "$anchor");
  if (anchor != NULL)
    {
      g_autofree char *loc = site_location (site, "$anchor");

      if (!schema_holds_string (anchor))
        return schema_compile_fail (cc, loc, "'$anchor' must be a string");
      if (!register_anchor (site, "$anchor", json_node_get_string (anchor)))
        return FALSE;
    }

  dynamic_anchor = json_object_get_member (object, "$dynamicAnchor");
  if (dynamic_anchor != NULL)
    {
      g_autofree char *loc = site_location (site, "$dynamicAnchor");
      const char *name;

      if (!schema_holds_string (dynamic_anchor))
        return schema_compile_fail (cc, loc, "'$dynamicAnchor' must be a string");
      name = json_node_get_string (dynamic_anchor);
      if (!register_anchor (site, "$dynamicAnchor", name))
        return FALSE;
      n->dynamic_anchor = g_strdup (name);
      if (site->resource->dynamic_anchors == NULL)
        site->resource->dynamic_anchors = g_hash_table_new (g_str_hash, g_str_equal);
      if (!g_hash_table_contains (site->resource->dynamic_anchors, name))
        g_hash_table_insert (site->resource->dynamic_anchors, n->dynamic_anchor, n);
    }
  return TRUE;
}

char *
schema_node_key (Doc        *doc,
                 const char *pointer)
{
  return g_strconcat (doc->key_prefix, pointer, NULL);
}

/* Compiles the subschema @json found at @pointer in @doc. */
SchemaNode *
schema_compile_node (Compiler       *cc,
                     Doc            *doc,
                     JsonNode       *json,
                     const char     *pointer,
                     SchemaResource *resource,
                     Dialect         dialect,
                     guint           depth)
{
  g_autofree char *key = schema_node_key (doc, pointer);
  Site site = { cc, doc, NULL, pointer, resource, dialect, depth };
  SchemaNode *n;
  JsonObject *object;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;
  gboolean ref_only;

  n = g_hash_table_lookup (cc->schema->by_path, key);
  if (n != NULL)
    return n;

  if (depth > MAX_SCHEMA_DEPTH)
    {
      schema_compile_fail (cc, key, "the schema nests deeper than %u levels", MAX_SCHEMA_DEPTH);
      return NULL;
    }

  n = g_new0 (SchemaNode, 1);
  n->path = g_steal_pointer (&key);
  n->resource = resource;
  n->draft = dialect.draft;
  g_ptr_array_add (cc->schema->nodes, n);
  g_hash_table_insert (cc->schema->by_path, n->path, n);
  site.n = n;

  if (JSON_NODE_HOLDS_VALUE (json) && json_node_get_value_type (json) == G_TYPE_BOOLEAN)
    {
      n->is_false = !json_node_get_boolean (json);
      return n;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json))
    {
      schema_compile_fail (cc, n->path, "a schema must be an object or a boolean, got %s", schema_json_kind_name (json));
      return NULL;
    }

  object = json_node_get_object (json);
  /* draft 7: "All other properties in a "$ref" object MUST be ignored" —
   * except that definitions beside it are still where pointers lead */
  ref_only = dialect.draft == SLUICE_SCHEMA_DRAFT_7 && json_object_has_member (object, "$ref");

  if (!ref_only && !compile_identifiers (&site, object))
    return NULL;

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &value))
    {
      if (ref_only && strcmp (name, "$ref") != 0 && strcmp (name, "definitions") != 0)
        continue;
      if (!compile_keyword (&site, name, value, object))
        return NULL;
    }

  /* then and else mean nothing without if */
  if (!(n->has & HAS_IF))
    n->then_ = n->else_ = NULL;

  /* required names that properties declares are found by index */
  if (n->n_required > 0 && n->n_props > 0)
    {
      n->required_prop = g_new (int, n->n_required);
      for (guint r = 0; r < n->n_required; r++)
        {
          n->required_prop[r] = -1;
          for (guint p = 0; p < n->n_props; p++)
            if (strcmp (n->required[r], n->props[p].name) == 0)
              n->required_prop[r] = (int) p;
        }
    }
  return n;
}

