/* test-schema.c — tests for the compiled JSON Schema validator */
#include "sluice-schema-private.h"

#include <glib/gstdio.h>
#include <string.h>

static JsonNode *
parse (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static SluiceSchema *
compile_ok (const char *json)
{
  g_autoptr(GError) error = NULL;
  SluiceSchema *s = sluice_schema_new_from_string (json, &error);

  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static GPtrArray *
violations_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
}

/* Validates in both modes (verdict only, and collecting) and checks they agree. */
static GPtrArray *
run (SluiceSchema *s,
     const char   *instance,
     guint         max)
{
  g_autoptr(JsonNode) node = parse (instance);
  GPtrArray *v = violations_new ();
  gboolean quick = sluice_schema_validate (s, node, NULL, 0);
  gboolean full = sluice_schema_validate (s, node, v, max);

  g_assert_cmpint (quick, ==, full);
  g_assert_cmpint (full, ==, v->len == 0);
  return v;
}

static void
assert_valid (SluiceSchema *s,
              const char   *instance)
{
  g_autoptr(GPtrArray) v = run (s, instance, 16);

  if (v->len > 0)
    g_error ("%s: unexpected violation %s [%s]: %s", instance,
             ((SluiceViolation *) v->pdata[0])->instance_path,
             ((SluiceViolation *) v->pdata[0])->keyword_path,
             ((SluiceViolation *) v->pdata[0])->message);
}

static void
assert_violation (const SluiceViolation *v,
                  const char            *instance_path,
                  const char            *keyword_path,
                  const char            *message)
{
  g_assert_cmpstr (v->instance_path, ==, instance_path);
  g_assert_cmpstr (v->keyword_path, ==, keyword_path);
  g_assert_cmpstr (v->message, ==, message);
}

/* Exactly one violation, with these fields. */
static void
assert_one (SluiceSchema *s,
            const char   *instance,
            const char   *instance_path,
            const char   *keyword_path,
            const char   *message)
{
  g_autoptr(GPtrArray) v = run (s, instance, 16);

  g_assert_cmpuint (v->len, ==, 1);
  assert_violation (v->pdata[0], instance_path, keyword_path, message);
}

static void
assert_invalid_schema (const char *schema,
                       const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceSchema) s = sluice_schema_new_from_string (schema, &error);

  g_assert_null (s);
  g_assert_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID);
  if (!g_str_has_suffix (message, "*"))
    g_assert_cmpstr (error->message, ==, message);
  else if (strncmp (error->message, message, strlen (message) - 1) != 0)
    g_error ("expected '%s', got '%s'", message, error->message);
}

/* ------------------------------------------------------------------------ */

static void
test_pointer_append (void)
{
  g_autofree char *a = sluice_json_pointer_append ("", "a/b~c");
  g_autofree char *b = sluice_json_pointer_append ("/x", "0");
  g_autofree char *c = sluice_json_pointer_append (NULL, "");

  g_assert_cmpstr (a, ==, "/a~1b~0c");
  g_assert_cmpstr (b, ==, "/x/0");
  g_assert_cmpstr (c, ==, "/");
}

static void
test_pointer_resolve (void)
{
  g_autoptr(JsonNode) doc = parse ("{\"a\":{\"b/c\":[1,{\"~k\":true}]},\"\":7}");
  JsonNode *n;

  g_assert_true (sluice_json_pointer_resolve (doc, "") == doc);
  n = sluice_json_pointer_resolve (doc, "/a/b~1c/1/~0k");
  g_assert_nonnull (n);
  g_assert_true (json_node_get_boolean (n));
  n = sluice_json_pointer_resolve (doc, "/a/b~1c/0");
  g_assert_cmpint (json_node_get_int (n), ==, 1);
  n = sluice_json_pointer_resolve (doc, "/");
  g_assert_cmpint (json_node_get_int (n), ==, 7);
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/x"));
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/b~1c/01"));
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/b~1c/2"));
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/b~1c/-"));
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/b~2c"));
  g_assert_null (sluice_json_pointer_resolve (doc, "a"));
  g_assert_null (sluice_json_pointer_resolve (doc, "/a/b~1c/0/x"));
}

static void
test_type (void)
{
  g_autoptr(SluiceSchema) integer = compile_ok ("{\"type\":\"integer\"}");
  g_autoptr(SluiceSchema) nullable = compile_ok ("{\"type\":[\"object\",\"null\"]}");
  g_autoptr(SluiceSchema) three = compile_ok ("{\"type\":[\"string\",\"number\",\"null\"]}");
  g_autoptr(SluiceSchema) number = compile_ok ("{\"type\":\"number\"}");

  assert_valid (integer, "5");
  assert_valid (integer, "1.0");
  assert_valid (integer, "-3e2");
  assert_one (integer, "1.5", "", "/type", "expected integer, got number");
  assert_one (integer, "\"7\"", "", "/type", "expected integer, got string");
  assert_valid (number, "5");
  assert_valid (number, "0.5");
  assert_one (number, "true", "", "/type", "expected number, got boolean");

  assert_valid (nullable, "null");
  assert_valid (nullable, "{}");
  assert_one (nullable, "[]", "", "/type", "expected object or null, got array");
  assert_valid (three, "null");
  assert_one (three, "true", "", "/type", "expected string, number or null, got boolean");
  assert_one (three, "{}", "", "/type", "expected string, number or null, got object");
}

static void
test_enum (void)
{
  g_autoptr(SluiceSchema) words = compile_ok ("{\"enum\":[\"positive\",\"negative\",\"neutral\"]}");
  g_autoptr(SluiceSchema) mixed = compile_ok ("{\"enum\":[1,\"a\",null,{\"k\":[1]}]}");
  g_autoptr(GString) big = g_string_new ("{\"enum\":[5");
  g_autoptr(SluiceSchema) large = NULL;

  assert_valid (words, "\"neutral\"");
  assert_one (words, "\"mixed\"", "", "/enum", "value is not one of: positive, negative, neutral");
  assert_one (words, "1", "", "/enum", "value is not one of: positive, negative, neutral");

  /* deep equality: 1 and 1.0 are equal, also inside containers */
  assert_valid (mixed, "1.0");
  assert_valid (mixed, "null");
  assert_valid (mixed, "{\"k\":[1.0]}");
  assert_one (mixed, "{\"k\":[2]}", "", "/enum", "value is not one of: 1, \"a\", null, {\"k\":[1]}");
  assert_one (mixed, "\"1\"", "", "/enum", "value is not one of: 1, \"a\", null, {\"k\":[1]}");

  /* many strings: looked up through a hash set; a number next to them */
  for (guint i = 0; i < 20; i++)
    g_string_append_printf (big, ",\"v%u\"", i);
  g_string_append (big, "]}");
  large = compile_ok (big->str);
  assert_valid (large, "\"v13\"");
  assert_valid (large, "5.0");
  assert_one (large, "\"v20\"", "", "/enum", "value is not one of: 5, \"v0\", \"v1\", \"v2\", \"v3\", \"v4\", \"v5\", \"v6\", …");
  assert_one (large, "6", "", "/enum", "value is not one of: 5, \"v0\", \"v1\", \"v2\", \"v3\", \"v4\", \"v5\", \"v6\", …");
}

static void
test_const (void)
{
  g_autoptr(SluiceSchema) s = compile_ok ("{\"const\":{\"a\":[1,2],\"b\":null}}");
  g_autoptr(SluiceSchema) str = compile_ok ("{\"const\":\"yes\"}");
  g_autoptr(SluiceSchema) one = compile_ok ("{\"const\":1}");

  assert_valid (s, "{\"b\":null,\"a\":[1.0,2]}");
  assert_one (s, "{\"a\":[2,1],\"b\":null}", "", "/const", "value is not equal to the constant {\"a\":[1,2],\"b\":null}");
  assert_one (s, "{\"a\":[1,2]}", "", "/const", "value is not equal to the constant {\"a\":[1,2],\"b\":null}");
  assert_one (s, "{\"a\":[1,2],\"b\":null,\"c\":1}", "", "/const",
              "value is not equal to the constant {\"a\":[1,2],\"b\":null}");
  assert_valid (str, "\"yes\"");
  assert_one (str, "\"no\"", "", "/const", "value is not equal to the constant \"yes\"");
  assert_valid (one, "1.0");
  assert_one (one, "true", "", "/const", "value is not equal to the constant 1");
}

static void
test_numbers (void)
{
  g_autoptr(SluiceSchema) range = compile_ok ("{\"minimum\":0,\"maximum\":1}");
  g_autoptr(SluiceSchema) excl = compile_ok ("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":10}");
  g_autoptr(SluiceSchema) cents = compile_ok ("{\"multipleOf\":0.01}");
  g_autoptr(SluiceSchema) three = compile_ok ("{\"multipleOf\":3}");
  g_autoptr(SluiceSchema) big = compile_ok ("{\"maximum\":9007199254740992}");
  g_autoptr(SluiceSchema) fraction = compile_ok ("{\"maximum\":0.3}");

  assert_valid (range, "0");
  assert_valid (range, "1.0");
  assert_valid (range, "\"not a number\"");  /* numeric keywords ignore other types */
  assert_one (range, "1.5", "", "/maximum", "1.5 is greater than the maximum 1");
  assert_one (range, "-0.25", "", "/minimum", "-0.25 is less than the minimum 0");
  assert_one (range, "2", "", "/maximum", "2 is greater than the maximum 1");

  assert_valid (excl, "0.001");
  assert_one (excl, "0", "", "/exclusiveMinimum", "0 is not greater than the exclusive minimum 0");
  assert_one (excl, "10.0", "", "/exclusiveMaximum", "10 is not less than the exclusive maximum 10");

  assert_valid (cents, "0.07");
  assert_valid (cents, "19.99");
  assert_one (cents, "0.075", "", "/multipleOf", "0.075 is not a multiple of 0.01");
  assert_valid (three, "-9");
  assert_valid (three, "9.0");
  assert_one (three, "7", "", "/multipleOf", "7 is not a multiple of 3");

  /* exact 64-bit comparison: 2^53 + 1 is not lost to double rounding */
  assert_valid (big, "9007199254740992");
  assert_one (big, "9007199254740993", "", "/maximum",
              "9007199254740993 is greater than the maximum 9007199254740992");
  /* shortest round-trip formatting */
  assert_one (fraction, "0.30000000000000004", "", "/maximum",
              "0.30000000000000004 is greater than the maximum 0.3");
  assert_one (fraction, "1e300", "", "/maximum", "1e+300 is greater than the maximum 0.3");
}

static void
test_strings (void)
{
  g_autoptr(SluiceSchema) min3 = compile_ok ("{\"minLength\":3}");
  g_autoptr(SluiceSchema) five = compile_ok ("{\"minLength\":5,\"maxLength\":5}");
  g_autoptr(SluiceSchema) max1 = compile_ok ("{\"maxLength\":1}");
  g_autoptr(SluiceSchema) emoji = compile_ok ("{\"maxLength\":2,\"minLength\":2}");
  g_autoptr(SluiceSchema) word = compile_ok ("{\"pattern\":\"^[a-z]+$\"}");
  g_autoptr(SluiceSchema) unanchored = compile_ok ("{\"pattern\":\"b\"}");

  assert_valid (min3, "\"abc\"");
  assert_valid (min3, "12");  /* string keywords ignore other types */
  assert_one (min3, "\"ab\"", "", "/minLength", "string is shorter than 3 characters");
  assert_one (min3, "\"\"", "", "/minLength", "string is shorter than 3 characters");

  /* code points, not bytes: "héllo" is 6 bytes, 5 characters */
  assert_valid (five, "\"h\\u00e9llo\"");
  assert_valid (five, "\"héllo\"");
  assert_one (five, "\"héllo!\"", "", "/maxLength", "string is longer than 5 characters");
  assert_one (five, "\"héll\"", "", "/minLength", "string is shorter than 5 characters");
  assert_valid (emoji, "\"😀😀\"");  /* 8 bytes */
  assert_one (max1, "\"é!\"", "", "/maxLength", "string is longer than 1 character");
  assert_valid (max1, "\"é\"");

  assert_valid (word, "\"abc\"");
  assert_one (word, "\"abc1\"", "", "/pattern", "string does not match the pattern '^[a-z]+$'");
  /* ECMA-262 `$`: a trailing newline does not match */
  assert_one (word, "\"abc\\n\"", "", "/pattern", "string does not match the pattern '^[a-z]+$'");
  assert_valid (unanchored, "\"abc\"");
  assert_one (unanchored, "\"xyz\"", "", "/pattern", "string does not match the pattern 'b'");
}

static void
test_objects (void)
{
  g_autoptr(SluiceSchema) nested = compile_ok (
    "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}},"
    "\"a/b\":{\"type\":\"integer\"}}}");
  g_autoptr(SluiceSchema) req = compile_ok ("{\"required\":[\"reasoning\",\"answer\"]}");
  g_autoptr(SluiceSchema) counts = compile_ok ("{\"minProperties\":1,\"maxProperties\":2}");
  g_autoptr(SluiceSchema) extra = compile_ok (
    "{\"properties\":{\"known\":true},\"additionalProperties\":{\"type\":\"integer\"}}");

  assert_valid (nested, "{\"items\":[{\"name\":\"a\"},{}]}");
  assert_one (nested, "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":3}]}",
              "/items/2/name", "/properties/items/items/properties/name/type", "expected string, got integer");
  assert_one (nested, "{\"a/b\":true}", "/a~1b", "/properties/a~1b/type", "expected integer, got boolean");

  assert_valid (req, "{\"reasoning\":1,\"answer\":2}");
  assert_valid (req, "[]");
  assert_one (req, "{\"answer\":2}", "", "/required", "missing required property 'reasoning'");

  assert_valid (counts, "{\"a\":1}");
  assert_one (counts, "{}", "", "/minProperties", "object has fewer than 1 property");
  assert_one (counts, "{\"a\":1,\"b\":2,\"c\":3}", "", "/maxProperties", "object has more than 2 properties");

  assert_valid (extra, "{\"known\":\"x\",\"n\":1}");
  assert_one (extra, "{\"known\":1,\"extra\":\"x\"}", "/extra", "/additionalProperties/type",
              "expected integer, got string");
}

static void
test_did_you_mean (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"properties\":{\"retry\":{},\"timeout\":{},\"model\":{}},\"additionalProperties\":false}");
  g_autoptr(SluiceSchema) many = compile_ok (
    "{\"properties\":{\"a1\":{},\"b2\":{},\"c3\":{},\"d4\":{},\"e5\":{},\"f6\":{},\"g7\":{},\"h8\":{},"
    "\"i9\":{},\"temperature\":{}},\"additionalProperties\":false}");
  g_autoptr(SluiceSchema) none = compile_ok ("{\"additionalProperties\":false}");

  assert_valid (s, "{\"retry\":3,\"model\":\"m\"}");
  assert_one (s, "{\"retyr\":3}", "/retyr", "/additionalProperties", "unknown property 'retyr'; did you mean 'retry'?");
  assert_one (s, "{\"modle\":3}", "/modle", "/additionalProperties", "unknown property 'modle'; did you mean 'model'?");
  assert_one (s, "{\"Timeout\":3}", "/Timeout", "/additionalProperties",
              "unknown property 'Timeout'; did you mean 'timeout'?");
  assert_one (s, "{\"xyz\":3}", "/xyz", "/additionalProperties",
              "unknown property 'xyz'; expected one of: retry, timeout, model");
  assert_one (s, "{\"a/b\":3}", "/a~1b", "/additionalProperties",
              "unknown property 'a/b'; expected one of: retry, timeout, model");
  /* more than 8 names: a prop index and a capped list */
  assert_valid (many, "{\"temperature\":1,\"i9\":2}");
  assert_one (many, "{\"temprature\":1}", "/temprature", "/additionalProperties",
              "unknown property 'temprature'; did you mean 'temperature'?");
  assert_one (many, "{\"zzzzzz\":1}", "/zzzzzz", "/additionalProperties",
              "unknown property 'zzzzzz'; expected one of: a1, b2, c3, d4, e5, f6, g7, h8, …");
  assert_one (none, "{\"x\":1}", "/x", "/additionalProperties", "unknown property 'x'; no properties are allowed here");
}

static void
test_arrays (void)
{
  g_autoptr(SluiceSchema) counts = compile_ok ("{\"minItems\":2,\"maxItems\":3}");
  g_autoptr(SluiceSchema) one = compile_ok ("{\"maxItems\":1}");
  g_autoptr(SluiceSchema) unique = compile_ok ("{\"uniqueItems\":true}");
  g_autoptr(SluiceSchema) typed = compile_ok ("{\"items\":{\"type\":\"string\"}}");
  g_autoptr(GString) long_array = g_string_new ("[");

  assert_valid (counts, "[1,2]");
  assert_one (counts, "[1]", "", "/minItems", "array has fewer than 2 items");
  assert_one (counts, "[1,2,3,4]", "", "/maxItems", "array has more than 3 items");
  assert_one (one, "[1,2]", "", "/maxItems", "array has more than 1 item");

  assert_valid (unique, "[1,2,\"1\",{\"a\":1},{\"a\":2},[1],[[1]]]");
  assert_one (unique, "[1,2,3,1.0]", "", "/uniqueItems", "items 0 and 3 are equal");
  assert_one (unique, "[{\"a\":1,\"b\":[true]},{\"b\":[true],\"a\":1}]", "", "/uniqueItems",
              "items 0 and 1 are equal");
  /* long arrays go through a hash table; same answer */
  for (guint i = 0; i < 40; i++)
    g_string_append_printf (long_array, "%s%u", i > 0 ? "," : "", i == 30 ? 5 : i);
  g_string_append (long_array, "]");
  assert_one (unique, long_array->str, "", "/uniqueItems", "items 5 and 30 are equal");

  assert_valid (typed, "[\"a\",\"b\"]");
  assert_one (typed, "[\"a\",\"b\",\"c\",4]", "/3", "/items/type", "expected string, got integer");
}

static void
test_combinators (void)
{
  g_autoptr(SluiceSchema) all = compile_ok ("{\"allOf\":[{\"minimum\":0},{\"multipleOf\":2}]}");
  g_autoptr(SluiceSchema) any = compile_ok (
    "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"null\"}]}");
  g_autoptr(SluiceSchema) one = compile_ok ("{\"oneOf\":[{\"minimum\":0},{\"maximum\":10}]}");
  g_autoptr(SluiceSchema) single = compile_ok ("{\"anyOf\":[{\"type\":\"string\"}]}");
  g_autoptr(GPtrArray) v = NULL;

  assert_valid (all, "4");
  assert_one (all, "3", "", "/allOf/1/multipleOf", "3 is not a multiple of 2");
  v = run (all, "-3", 16);
  g_assert_cmpuint (v->len, ==, 2);
  assert_violation (v->pdata[0], "", "/allOf/0/minimum", "-3 is less than the minimum 0");
  assert_violation (v->pdata[1], "", "/allOf/1/multipleOf", "-3 is not a multiple of 2");

  assert_valid (any, "\"x\"");
  assert_valid (any, "null");
  assert_one (any, "1.5", "", "/anyOf", "value matches none of the 3 alternatives");
  assert_one (single, "1", "", "/anyOf", "value does not match the only alternative");

  assert_valid (one, "-5");
  assert_valid (one, "11");
  assert_one (one, "5", "", "/oneOf", "value matches 2 alternatives, expected exactly one");
  /* numeric keywords ignore strings, so a string matches both */
  assert_one (one, "\"s\"", "", "/oneOf", "value matches 2 alternatives, expected exactly one");
}

/* A failed anyOf/oneOf says why the closest alternative failed. */
static void
test_combinators_closest (void)
{
  g_autoptr(SluiceSchema) any = compile_ok (
    "{\"anyOf\":[{\"type\":\"object\",\"required\":[\"a\"]},{\"type\":\"string\"}]}");
  g_autoptr(SluiceSchema) one = compile_ok (
    "{\"properties\":{\"v\":{\"oneOf\":[{\"type\":\"null\"},"
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}]}}}");

  assert_one (any, "{\"b\":1}", "", "/anyOf",
              "value matches none of the 2 alternatives; the closest, /anyOf/0, fails: missing required property 'a'");
  assert_one (one, "{\"v\":{\"x\":\"s\"}}", "/v", "/properties/v/oneOf",
              "value matches none of the 2 alternatives; the closest, /properties/v/oneOf/1, fails: "
              "/v/x: expected integer, got string");
  /* when every alternative wants another type, there is no closest */
  assert_one (any, "1", "", "/anyOf", "value matches none of the 2 alternatives");

  /* one level of explanation: a recursive anyOf that fails deep down would
   * otherwise be re-validated once per alternative per level */
  {
    g_autoptr(SluiceSchema) tree = compile_ok (
      "{\"$defs\":{\"t\":{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"c\":{\"$ref\":\"#/$defs/t\"}},"
      "\"required\":[\"c\"]},{\"type\":\"object\",\"properties\":{\"d\":{\"$ref\":\"#/$defs/t\"}},"
      "\"required\":[\"d\"]},{\"type\":\"integer\"}]}},\"$ref\":\"#/$defs/t\"}");
    GString *deep = g_string_new (NULL);

    for (guint i = 0; i < 200; i++)
      g_string_append (deep, "{\"c\":");
    g_string_append (deep, "\"x\"");
    for (guint i = 0; i < 200; i++)
      g_string_append (deep, "}");
    assert_one (tree, deep->str, "", "/$defs/t/anyOf",
                "value matches none of the 3 alternatives; the closest, /$defs/t/anyOf/0, fails: "
                "/c: value matches none of the 3 alternatives");
    g_string_free (deep, TRUE);
  }
}

static void
test_combinators_one_of_none (void)
{
  g_autoptr(SluiceSchema) one = compile_ok ("{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"array\"}]}");
  g_autoptr(SluiceSchema) not = compile_ok ("{\"not\":{\"type\":\"null\"}}");

  assert_valid (one, "[]");
  assert_one (one, "{}", "", "/oneOf", "value matches none of the 2 alternatives");
  assert_valid (not, "0");
  assert_one (not, "null", "", "/not", "value must not match the schema in 'not'");
}

static void
test_boolean_schemas (void)
{
  g_autoptr(SluiceSchema) yes = compile_ok ("true");
  g_autoptr(SluiceSchema) no = compile_ok ("false");
  g_autoptr(SluiceSchema) props = compile_ok ("{\"properties\":{\"x\":false,\"y\":true}}");

  assert_valid (yes, "{\"anything\":[1,2,3]}");
  assert_one (no, "1", "", "", "no value is allowed here");
  assert_valid (props, "{\"y\":1}");
  assert_one (props, "{\"x\":1,\"y\":1}", "/x", "/properties/x", "property 'x' is not allowed");
}

static const char *sentiment_schema =
  "{\"type\":\"object\",\"required\":[\"sentiment\",\"confidence\",\"reasoning\"],"
  "\"additionalProperties\":false,\"properties\":{"
  "\"sentiment\":{\"enum\":[\"positive\",\"negative\",\"neutral\"]},"
  "\"confidence\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
  "\"reasoning\":{\"type\":\"string\",\"minLength\":1}}}";

static void
test_collect_limit (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (sentiment_schema);
  const char *bad = "{\"sentiment\":\"great\",\"confidence\":7,\"reasoning\":\"\",\"extra\":1}";
  g_autoptr(GPtrArray) all = run (s, bad, 100);
  g_autoptr(GPtrArray) two = run (s, bad, 2);
  g_autoptr(GPtrArray) zero = violations_new ();
  g_autoptr(JsonNode) node = parse (bad);

  g_assert_cmpuint (all->len, ==, 4);
  assert_violation (all->pdata[0], "/sentiment", "/properties/sentiment/enum",
                    "value is not one of: positive, negative, neutral");
  assert_violation (all->pdata[1], "/confidence", "/properties/confidence/maximum", "7 is greater than the maximum 1");
  assert_violation (all->pdata[2], "/reasoning", "/properties/reasoning/minLength", "string is shorter than 1 character");
  assert_violation (all->pdata[3], "/extra", "/additionalProperties",
                    "unknown property 'extra'; expected one of: sentiment, confidence, reasoning");

  g_assert_cmpuint (two->len, ==, 2);
  assert_violation (two->pdata[1], "/confidence", "/properties/confidence/maximum", "7 is greater than the maximum 1");

  /* 0 means "just the verdict" */
  g_assert_false (sluice_schema_validate (s, node, zero, 0));
  g_assert_cmpuint (zero->len, ==, 0);
}

static void
test_malformed (void)
{
  assert_invalid_schema ("{\"type\":\"strin\"}",
                         "/type: unknown type 'strin' (expected null, boolean, object, array, number, string or integer)");
  assert_invalid_schema ("{\"type\":5}", "/type: 'type' must be a string or an array of strings");
  assert_invalid_schema ("{\"type\":[\"string\",7]}", "/type/1: 'type' must be a string or an array of strings");
  assert_invalid_schema ("{\"type\":[\"string\",\"string\"]}", "/type/1: type 'string' is listed twice");
  assert_invalid_schema ("{\"properties\":{\"a\":{\"required\":\"x\"}}}",
                         "/properties/a/required: 'required' must be an array of strings");
  assert_invalid_schema ("{\"required\":[\"a\",1]}", "/required/1: 'required' must be an array of strings");
  assert_invalid_schema ("{\"properties\":{\"n\":{\"minimum\":\"1\"}}}",
                         "/properties/n/minimum: 'minimum' must be a number, got string");
  assert_invalid_schema ("{\"exclusiveMaximum\":true}",
                         "/exclusiveMaximum: 'exclusiveMaximum' must be a number (the boolean form is draft 4 syntax)");
  assert_invalid_schema ("{\"multipleOf\":0}", "/multipleOf: 'multipleOf' must be greater than 0");
  assert_invalid_schema ("{\"minLength\":-1}", "/minLength: 'minLength' must be a non-negative integer");
  assert_invalid_schema ("{\"maxItems\":1.5}", "/maxItems: 'maxItems' must be a non-negative integer");
  assert_invalid_schema ("{\"uniqueItems\":1}", "/uniqueItems: 'uniqueItems' must be a boolean");
  assert_invalid_schema ("{\"enum\":{}}", "/enum: 'enum' must be an array");
  assert_invalid_schema ("{\"anyOf\":[]}", "/anyOf: 'anyOf' must be a non-empty array of schemas");
  assert_invalid_schema ("{\"allOf\":[{},3]}", "/allOf/1: a schema must be an object or a boolean, got integer");
  assert_invalid_schema ("{\"properties\":[]}", "/properties: 'properties' must be an object of schemas");
  assert_invalid_schema ("{\"items\":[{}]}",
                         "/items: 'items' must be a schema; the array form is draft 7 syntax "
                         "(use 'prefixItems' in draft 2020-12)");
  assert_invalid_schema ("{\"properties\":{\"p\":{\"pattern\":\"([a-z\"}}}",
                         "/properties/p/pattern: invalid regular expression: *");
  assert_invalid_schema ("\"string\"", "/: a schema must be an object or a boolean, got string");
  assert_invalid_schema ("{\"type\":", "the schema is not valid JSON: *");

  /* references */
  assert_invalid_schema ("{\"$ref\":\"#/$defs/missing\"}", "/$ref: '$ref' target '#/$defs/missing' does not exist");
  assert_invalid_schema ("{\"properties\":{\"a\":{\"$ref\":\"other.json#/x\"}}}",
                         "/properties/a/$ref: '$ref' target 'other.json#/x' is not in this schema, and there is no "
                         "registry to find 'sluice:/other.json' in");
  assert_invalid_schema ("{\"$ref\":\"https://example.com/s.json\"}",
                         "/$ref: '$ref' target 'https://example.com/s.json' is not in this schema, and there is no "
                         "registry to find 'https://example.com/s.json' in");
  assert_invalid_schema ("{\"$ref\":\"#node\"}", "/$ref: '$ref' target '#node' names an anchor that does not exist");
  assert_invalid_schema ("{\"$ref\":7}", "/$ref: '$ref' must be a string");
  assert_invalid_schema ("{\"$ref\":\"#\"}",
                         "/$ref: '$ref' leads back to '#' without descending into the value, which would loop forever");
  assert_invalid_schema ("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
                         "\"$ref\":\"#/$defs/a\"}",
                         "/$defs/b/allOf/0/$ref: '$ref' leads back to '/$defs/a' without descending into the value, "
                         "which would loop forever");
  /* identifiers and the newer keywords */
  assert_invalid_schema ("{\"$id\":5}", "/$id: '$id' must be a string");
  assert_invalid_schema ("{\"$defs\":{\"a\":{\"$id\":\"http://x/y#frag\"}}}",
                         "/$defs/a/$id: '$id' must not have a fragment ('http://x/y#frag'); use '$anchor' for a name");
  assert_invalid_schema ("{\"$anchor\":\"1bad\"}",
                         "/$anchor: '$anchor' must be a plain name (a letter or '_', then letters, digits, '-', '_', '.')");
  assert_invalid_schema ("{\"$dynamicRef\":5}", "/$dynamicRef: '$dynamicRef' must be a string");
  assert_invalid_schema ("{\"prefixItems\":{}}", "/prefixItems: 'prefixItems' must be a non-empty array of schemas");
  assert_invalid_schema ("{\"dependentRequired\":{\"a\":\"b\"}}",
                         "/dependentRequired/a: 'dependentRequired' must map names to arrays of strings");
  assert_invalid_schema ("{\"minContains\":-1}", "/minContains: 'minContains' must be a non-negative integer");
  assert_invalid_schema ("{\"format\":5}", "/format: 'format' must be a string");
  assert_invalid_schema ("{\"$ref\":\"#/$defs/a%zz\"}", "/$ref: '$ref' value '#/$defs/a%zz' is not a valid URI fragment");
  assert_invalid_schema ("{\"$ref\":\"http://[bad\"}", "/$ref: '$ref' value 'http://[bad' is not a valid URI reference");
  assert_invalid_schema ("{\"if\":[]}", "/if: a schema must be an object or a boolean, got array");

  /* a broken definition is reported even when nothing uses it */
  assert_invalid_schema ("{\"$defs\":{\"unused\":{\"maximum\":null}}}",
                         "/$defs/unused/maximum: 'maximum' must be a number, got null");
}

/* Every keyword of both drafts compiles; those of the other draft are
 * annotations. */
static void
test_all_keywords (void)
{
  static const char *keywords[] = {
    "\"if\":{}", "\"then\":{}", "\"else\":{}", "\"prefixItems\":[{}]", "\"contains\":{}", "\"minContains\":0",
    "\"maxContains\":3", "\"dependentRequired\":{\"a\":[]}", "\"dependentSchemas\":{\"a\":{}}",
    "\"propertyNames\":{}", "\"patternProperties\":{\"a\":{}}", "\"unevaluatedProperties\":{}",
    "\"unevaluatedItems\":{}", "\"$dynamicRef\":\"#\"", "\"dependencies\":{\"a\":[],\"b\":{}}",
    /* not 2020-12 keywords: annotations */
    "\"$recursiveRef\":7", "\"additionalItems\":7",
  };

  for (guint i = 0; i < G_N_ELEMENTS (keywords); i++)
    {
      g_autofree char *schema = g_strdup_printf ("{\"properties\":{\"a\":{\"items\":{%s}}}}", keywords[i]);
      g_autoptr(SluiceSchema) s = compile_ok (schema);

      assert_valid (s, "{\"a\":[{},1]}");
    }
}

static void
test_conditionals (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"if\":{\"required\":[\"kind\"],\"properties\":{\"kind\":{\"const\":\"n\"}}},\"then\":{\"properties\":{\"v\":{\"type\":\"number\"}}},"
    "\"else\":{\"properties\":{\"v\":{\"type\":\"string\"}}}}");
  g_autoptr(SluiceSchema) deps = compile_ok (
    "{\"dependentRequired\":{\"card\":[\"cvc\",\"expiry\"]},"
    "\"dependentSchemas\":{\"tip\":{\"properties\":{\"total\":{\"minimum\":1}}}}}");

  assert_valid (s, "{\"kind\":\"n\",\"v\":1}");
  assert_valid (s, "{\"kind\":\"s\",\"v\":\"x\"}");
  assert_one (s, "{\"kind\":\"n\",\"v\":\"x\"}", "/v", "/then/properties/v/type", "expected number, got string");
  assert_one (s, "{\"v\":1}", "/v", "/else/properties/v/type", "expected string, got integer");

  assert_valid (deps, "{\"card\":1,\"cvc\":2,\"expiry\":3}");
  assert_one (deps, "{\"card\":1,\"cvc\":2}", "", "/dependentRequired",
              "missing property 'expiry', which is required when 'card' is present");
  assert_valid (deps, "{\"total\":0}");
  assert_one (deps, "{\"tip\":1,\"total\":0}", "/total", "/dependentSchemas/tip/properties/total/minimum",
              "0 is less than the minimum 1");
}

static void
test_arrays_2020 (void)
{
  g_autoptr(SluiceSchema) tuple = compile_ok (
    "{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}");
  g_autoptr(SluiceSchema) contains = compile_ok (
    "{\"contains\":{\"type\":\"integer\"},\"minContains\":2,\"maxContains\":3}");
  g_autoptr(SluiceSchema) some = compile_ok ("{\"contains\":{\"const\":\"x\"}}");

  assert_valid (tuple, "[\"a\",1]");
  assert_valid (tuple, "[\"a\"]");
  assert_one (tuple, "[\"a\",\"b\"]", "/1", "/prefixItems/1/type", "expected integer, got string");
  assert_one (tuple, "[\"a\",1,null]", "/2", "/items", "item 2 is not allowed: the array has at most 2 items");

  assert_valid (contains, "[1,\"a\",2]");
  assert_one (contains, "[1,\"a\"]", "", "/minContains", "array has fewer than 2 items that match 'contains'");
  assert_one (contains, "[1,2,3,4]", "", "/maxContains", "array has more than 3 items that match 'contains'");
  assert_one (some, "[\"y\"]", "", "/contains", "array has no item that matches 'contains'");
}

static void
test_object_keywords_2020 (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"properties\":{\"id\":{}},\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
    "\"additionalProperties\":false,\"propertyNames\":{\"maxLength\":8}}");
  g_autoptr(SluiceSchema) closed = compile_ok (
    "{\"allOf\":[{\"properties\":{\"a\":true}}],\"anyOf\":[{\"properties\":{\"b\":true}},{\"properties\":{\"c\":true},\"required\":[\"c\"]}],"
    "\"unevaluatedProperties\":false}");
  g_autoptr(SluiceSchema) tail = compile_ok (
    "{\"prefixItems\":[true],\"contains\":{\"type\":\"string\"},\"unevaluatedItems\":{\"type\":\"null\"}}");

  assert_valid (s, "{\"id\":1,\"x-a\":\"s\"}");
  assert_one (s, "{\"x-a\":1}", "/x-a", "/patternProperties/^x-/type", "expected string, got integer");
  assert_one (s, "{\"idd\":1}", "/idd", "/additionalProperties", "unknown property 'idd'; did you mean 'id'?");
  assert_one (s, "{\"x-verylongname\":\"s\"}", "/x-verylongname", "/propertyNames/maxLength",
              "string is longer than 8 characters");

  /* annotations pass through allOf and the anyOf branches that hold */
  assert_valid (closed, "{\"a\":1,\"b\":2}");
  assert_valid (closed, "{\"a\":1,\"c\":2}");
  assert_one (closed, "{\"b\":1,\"d\":2}", "/d", "/unevaluatedProperties",
              "property 'd' is not allowed here (no keyword evaluates it)");

  assert_valid (tail, "[1,\"s\",null]");
  assert_one (tail, "[1,\"s\",2]", "/2", "/unevaluatedItems/type", "expected null, got integer");
}

static void
test_draft7 (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) doc = parse (
    "{\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"integer\"},"
    "\"dependencies\":{\"a\":[\"b\"],\"c\":{\"required\":[\"d\"]}},"
    "\"definitions\":{\"n\":{\"type\":\"null\"}},"
    "\"properties\":{\"r\":{\"$ref\":\"#/definitions/n\",\"type\":\"string\"}}}");
  g_autoptr(SluiceSchema) s = sluice_schema_new_full (doc, NULL, SLUICE_SCHEMA_DRAFT_7, 0, NULL, &error);
  g_autoptr(SluiceSchema) by_schema = compile_ok (
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"items\":[{\"type\":\"string\"}]}");

  g_assert_no_error (error);
  assert_valid (s, "[\"a\",1,2]");
  assert_one (s, "[\"a\",1,\"b\"]", "/2", "/additionalItems/type", "expected integer, got string");
  assert_one (s, "{\"a\":1}", "", "/dependencies", "missing property 'b', which is required when 'a' is present");
  assert_one (s, "{\"c\":1}", "", "/dependencies/c/required", "missing required property 'd'");
  /* $ref's siblings are ignored in draft 7 */
  assert_valid (s, "{\"r\":null}");
  assert_one (s, "{\"r\":\"x\"}", "/r", "/definitions/n/type", "expected null, got string");

  assert_valid (by_schema, "[\"a\",1]");
  assert_one (by_schema, "[1]", "/0", "/items/0/type", "expected string, got integer");

  assert_invalid_schema ("{\"$schema\":\"http://json-schema.org/draft-04/schema#\"}",
                         "/$schema: dialect 'http://json-schema.org/draft-04/schema#' is not supported "
                         "(only draft 2020-12 and draft 7 are)");
  assert_invalid_schema ("{\"$schema\":\"https://example.com/my-meta\"}",
                         "/$schema: '$schema' names an unknown dialect 'https://example.com/my-meta' "
                         "(no such metaschema is registered)");
}

static void
test_registry (void)
{
  g_autoptr(SluiceSchemaRegistry) registry = sluice_schema_registry_new ();
  g_autoptr(JsonNode) money = parse ("{\"$defs\":{\"amount\":{\"type\":\"number\",\"minimum\":0}}}");
  g_autoptr(JsonNode) doc = parse (
    "{\"$id\":\"https://example.com/order.json\",\"properties\":{\"total\":{\"$ref\":\"money.json#/$defs/amount\"},"
    "\"item\":{\"$ref\":\"http://files.test/item.json\"}}}");
  g_autoptr(JsonNode) missing = parse ("{\"$ref\":\"https://example.com/nope.json\"}");
  g_autoptr(JsonNode) escape = parse ("{\"$ref\":\"http://files.test/../secret.json\"}");
  g_autofree char *dir = g_dir_make_tmp ("sluice-schema-XXXXXX", NULL);
  g_autofree char *item_path = g_build_filename (dir, "item.json", NULL);
  g_autoptr(SluiceSchema) s = NULL;
  g_autoptr(SluiceSchema) none = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (item_path, "{\"required\":[\"sku\"]}", -1, NULL));
  sluice_schema_registry_add (registry, "https://example.com/money.json", money);
  sluice_schema_registry_add_folder (registry, "http://files.test/", dir);

  s = sluice_schema_new_full (doc, NULL, SLUICE_SCHEMA_DRAFT_2020_12, 0, registry, &error);
  g_assert_no_error (error);
  assert_valid (s, "{\"total\":3.5,\"item\":{\"sku\":\"a\"}}");
  assert_one (s, "{\"total\":-1}", "/total", "https://example.com/money.json#/$defs/amount/minimum",
              "-1 is less than the minimum 0");
  assert_one (s, "{\"item\":{}}", "/item", "http://files.test/item.json#/required", "missing required property 'sku'");

  none = sluice_schema_new_full (missing, NULL, SLUICE_SCHEMA_DRAFT_2020_12, 0, registry, &error);
  g_assert_null (none);
  g_assert_cmpstr (error->message, ==, "/$ref: '$ref' target 'https://example.com/nope.json' cannot be resolved: "
                                       "no document is registered as 'https://example.com/nope.json'");
  g_clear_error (&error);
  /* the folder mapping does not leave its folder */
  none = sluice_schema_new_full (escape, NULL, SLUICE_SCHEMA_DRAFT_2020_12, 0, registry, &error);
  g_assert_null (none);
  g_assert_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID);

  g_unlink (item_path);
  g_rmdir (dir);
}

/* The caller's base URI: relative references and the document's own
 * location. */
static void
test_base_uri (void)
{
  g_autoptr(SluiceSchemaRegistry) registry = sluice_schema_registry_new ();
  g_autoptr(JsonNode) other = parse ("{\"type\":\"string\"}");
  g_autoptr(JsonNode) doc = parse ("{\"properties\":{\"a\":{\"$ref\":\"other.json\"},"
                                   "\"b\":{\"$ref\":\"https://example.com/dir/main.json#/properties/a\"}}}");
  g_autoptr(SluiceSchema) s = NULL;
  g_autoptr(SluiceSchema) none = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) missing = NULL;

  sluice_schema_registry_add (registry, "https://example.com/dir/other.json", other);
  s = sluice_schema_new_full (doc, "https://example.com/dir/main.json", SLUICE_SCHEMA_DRAFT_2020_12, 0,
                              registry, &error);
  g_assert_no_error (error);
  assert_valid (s, "{\"a\":\"x\",\"b\":\"y\"}");
  assert_one (s, "{\"b\":1}", "/b", "https://example.com/dir/other.json#/type", "expected string, got integer");

  none = sluice_schema_new_full (doc, "dir/main.json", SLUICE_SCHEMA_DRAFT_2020_12, 0, registry, &error);
  g_assert_null (none);
  g_assert_cmpstr (error->message, ==, "the base URI 'dir/main.json' is not absolute");
  g_clear_error (&error);

  missing = sluice_schema_registry_lookup (registry, "https://example.com/nothing.json", &error);
  g_assert_null (missing);
  g_assert_no_error (error);
}

static void
test_dynamic_ref (void)
{
  /* a generic list whose items the extending schema decides */
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"$id\":\"https://example.com/strings\",\"$ref\":\"list\",\"$defs\":{"
    "\"item\":{\"$dynamicAnchor\":\"item\",\"type\":\"string\"},"
    "\"list\":{\"$id\":\"list\",\"type\":\"array\",\"items\":{\"$dynamicRef\":\"#item\"},"
    "\"$defs\":{\"any\":{\"$dynamicAnchor\":\"item\"}}}}}");

  assert_valid (s, "[\"a\",\"b\"]");
  assert_one (s, "[\"a\",2]", "/1", "/$defs/item/type", "expected string, got integer");
}

static void
test_format (void)
{
  static const struct {
    const char *format;
    const char *good;
    const char *bad;
  } cases[] = {
    { "date-time", "2024-02-29T23:59:60Z", "2023-02-29T10:00:00Z" },
    { "date", "2024-02-29", "2024-2-29" },
    { "time", "10:20:30.5+02:00", "25:00:00Z" },
    { "email", "joe.bloggs@example.com", "joe..bloggs@example.com" },
    { "hostname", "api.example.com", "-api.example.com" },
    { "ipv4", "192.168.0.1", "192.168.0.256" },
    { "ipv6", "::ffff:192.168.0.1", "1:2:3:4:5:6:7:8:9" },
    { "uri", "https://example.com/a?b#c", "//example.com/a" },
    { "uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2eb8aa08-aa98-11ea-b4aa-73b441d1638" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *schema = g_strdup_printf ("{\"format\":\"%s\"}", cases[i].format);
      g_autofree char *good = g_strdup_printf ("\"%s\"", cases[i].good);
      g_autofree char *bad = g_strdup_printf ("\"%s\"", cases[i].bad);
      g_autofree char *message = g_strdup_printf ("string is not a valid %s", cases[i].format);
      g_autoptr(JsonNode) doc = parse (schema);
      g_autoptr(SluiceSchema) annotation = compile_ok (schema);
      g_autoptr(SluiceSchema) assertion = sluice_schema_new_full (doc, NULL, SLUICE_SCHEMA_DRAFT_2020_12,
                                                                  SLUICE_SCHEMA_ASSERT_FORMAT, NULL, NULL);

      /* an annotation by default */
      assert_valid (annotation, bad);
      assert_valid (assertion, good);
      assert_valid (assertion, "12");
      assert_one (assertion, bad, "", "/format", message);
    }
}

static void
test_regex_dialect (void)
{
  g_autoptr(SluiceSchema) digits = compile_ok ("{\"pattern\":\"^\\\\d+$\"}");
  g_autoptr(SluiceSchema) word = compile_ok ("{\"pattern\":\"^\\\\w+$\"}");
  g_autoptr(SluiceSchema) letters = compile_ok ("{\"pattern\":\"^\\\\p{Letter}+$\"}");
  g_autoptr(SluiceSchema) escape = compile_ok ("{\"pattern\":\"^\\\\u00e9$\"}");

  /* ECMA-262: \d and \w are ASCII-only, unlike PCRE with Unicode properties */
  assert_valid (digits, "\"123\"");
  assert_one (digits, "\"١٢٣\"", "", "/pattern", "string does not match the pattern '^\\d+$'");
  assert_valid (word, "\"a_1\"");
  assert_one (word, "\"é\"", "", "/pattern", "string does not match the pattern '^\\w+$'");
  assert_valid (letters, "\"héllo\"");
  assert_valid (escape, "\"é\"");

  assert_invalid_schema ("{\"patternProperties\":{\"(\":{}}}", "/patternProperties/(: invalid regular expression: *");
}

static void
test_multiple_of_exact (void)
{
  g_autoptr(SluiceSchema) small = compile_ok ("{\"multipleOf\":0.0001}");
  g_autoptr(SluiceSchema) tenth = compile_ok ("{\"multipleOf\":0.1}");
  g_autoptr(SluiceSchema) odd = compile_ok ("{\"multipleOf\":0.123456789}");
  g_autoptr(SluiceSchema) tiny = compile_ok ("{\"multipleOf\":1e-8}");

  assert_valid (small, "0.0075");
  assert_one (small, "0.00751", "", "/multipleOf", "0.00751 is not a multiple of 0.0001");
  assert_valid (tenth, "0.3");
  assert_valid (tenth, "1e300");
  assert_one (odd, "1e308", "", "/multipleOf", "1e+308 is not a multiple of 0.123456789");
  assert_valid (tiny, "12391239123");
}

static void
test_loops (void)
{
  g_autoptr(SluiceSchema) twice = compile_ok (
    "{\"$defs\":{\"int\":{\"type\":\"integer\"}},\"allOf\":[{\"$ref\":\"#/$defs/int\"},{\"$ref\":\"#/$defs/int\"}]}");
  GString *deep = g_string_new (NULL);

  assert_valid (twice, "1");
  assert_invalid_schema ("{\"if\":{\"$ref\":\"#\"}}",
                         "/if/$ref: '$ref' leads back to '#' without descending into the value, which would loop forever");
  assert_invalid_schema ("{\"$defs\":{\"a\":{\"$dynamicRef\":\"#/$defs/b\"},\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
                         "\"$ref\":\"#/$defs/a\"}",
                         "/$defs/b/anyOf/0/$ref: '$ref' leads back to '/$defs/a' without descending into the value, "
                         "which would loop forever");

  /* a loop only the dynamic scope creates: a violation, not a crash */
  {
    g_autoptr(SluiceSchema) s = compile_ok (
      "{\"$id\":\"https://example.com/a\",\"$dynamicAnchor\":\"x\",\"$ref\":\"b\",\"$defs\":{"
      "\"b\":{\"$id\":\"b\",\"$dynamicRef\":\"#x\",\"$defs\":{\"y\":{\"$dynamicAnchor\":\"x\"}}}}}");

    assert_one (s, "1", "", "", "the schema nests too deeply to check this value");
  }

  /* two alternatives that both descend: 2^40 visits without the budget */
  {
    g_autoptr(SluiceSchema) s = compile_ok (
      "{\"$defs\":{\"t\":{\"anyOf\":[{\"properties\":{\"c\":{\"$ref\":\"#/$defs/t\"}}},"
      "{\"properties\":{\"c\":{\"$ref\":\"#/$defs/t\"}},\"minProperties\":1}],\"not\":{\"type\":\"string\"}}},"
      "\"$ref\":\"#/$defs/t\"}");
    GString *costly = g_string_new (NULL);

    for (guint i = 0; i < 40; i++)
      g_string_append (costly, "{\"c\":");
    g_string_append (costly, "\"x\"");
    for (guint i = 0; i < 40; i++)
      g_string_append (costly, "}");
    assert_one (s, costly->str, "", "",
                "the value is too costly to check against this schema (more than 16777216 subschema visits)");
    g_string_free (costly, TRUE);
  }

  for (guint i = 0; i < 600; i++)
    g_string_append (deep, "{\"not\":");
  g_string_append (deep, "{}");
  for (guint i = 0; i < 600; i++)
    g_string_append (deep, "}");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(SluiceSchema) from_text = sluice_schema_new_from_string (deep->str, &error);
    /* JSON text that deep is refused before compiling; a tree built
     * otherwise (YAML, code) reaches the compiler's own limit */
    g_autoptr(JsonNode) tree = json_from_string (deep->str, NULL);
    g_autoptr(SluiceSchema) s = NULL;

    g_assert_null (from_text);
    g_assert_cmpstr (error->message, ==, "the schema is not valid JSON: the JSON nests deeper than 512 levels");
    g_clear_error (&error);
    s = sluice_schema_new (tree, &error);
    g_assert_null (s);
    g_assert_true (g_str_has_suffix (error->message, "/not: the schema nests deeper than 512 levels"));
  }
  g_string_free (deep, TRUE);
}

static void
test_ignored_keywords (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://x/s\",\"$comment\":\"c\","
    "\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1],\"format\":\"email\",\"deprecated\":true,"
    "\"readOnly\":false,\"writeOnly\":false,\"x-vendor\":{\"if\":1},\"maximun\":3}");

  /* unknown keywords (including a misspelled one) are annotations */
  assert_valid (s, "\"not an email\"");
  assert_valid (s, "99");
}

static const char *tree_schema =
  "{\"$defs\":{\"node\":{\"type\":\"object\",\"required\":[\"value\"],\"properties\":{"
  "\"value\":{\"type\":\"integer\"},"
  "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}}}},"
  "\"$ref\":\"#/$defs/node\"}";

static void
test_recursive_ref (void)
{
  g_autoptr(SluiceSchema) tree = compile_ok (tree_schema);
  g_autoptr(SluiceSchema) self_ref = compile_ok (
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"child\":{\"$ref\":\"#\"}},"
    "\"additionalProperties\":false}");
  g_autoptr(SluiceSchema) legacy = compile_ok (
    "{\"definitions\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"properties\":{\"n\":{\"$ref\":\"#/definitions/pos\"}}}");
  g_autoptr(SluiceSchema) embedded = compile_ok (
    "{\"$defs\":{\"sub\":{\"$id\":\"https://example.com/sub\",\"$defs\":{\"t\":{\"type\":\"integer\"}},"
    "\"properties\":{\"v\":{\"$ref\":\"#/$defs/t\"}}}},\"$ref\":\"#/$defs/sub\"}");
  g_autoptr(SluiceSchema) by_id = compile_ok (
    "{\"$id\":\"https://example.com/s\",\"$defs\":{\"a\":{\"type\":\"string\"}},"
    "\"$ref\":\"https://example.com/s#/$defs/a\"}");
  g_autoptr(SluiceSchema) into_props = compile_ok (
    "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"$ref\":\"#/properties/a\"}}}");

  assert_valid (tree, "{\"value\":1,\"children\":[{\"value\":2},{\"value\":3,\"children\":[{\"value\":4}]}]}");
  assert_one (tree, "{\"value\":1,\"children\":[{\"value\":2},{\"value\":3,\"children\":[{\"value\":\"x\"}]}]}",
              "/children/1/children/0/value", "/$defs/node/properties/value/type", "expected integer, got string");
  assert_one (tree, "{\"value\":1,\"children\":[{}]}", "/children/0", "/$defs/node/required",
              "missing required property 'value'");

  assert_valid (self_ref, "{\"name\":\"a\",\"child\":{\"name\":\"b\",\"child\":{}}}");
  assert_one (self_ref, "{\"child\":{\"child\":{\"nmae\":\"c\"}}}", "/child/child/nmae", "/additionalProperties",
              "unknown property 'nmae'; did you mean 'name'?");

  assert_valid (legacy, "{\"n\":3}");
  assert_one (legacy, "{\"n\":0}", "/n", "/definitions/pos/minimum", "0 is less than the minimum 1");

  /* inside an embedded resource, "#/..." is relative to that resource */
  assert_one (embedded, "{\"v\":\"x\"}", "/v", "/$defs/sub/$defs/t/type", "expected integer, got string");
  assert_one (by_id, "1", "", "/$defs/a/type", "expected string, got integer");
  assert_one (into_props, "{\"b\":1}", "/b", "/properties/a/type", "expected string, got integer");
}

static char *
nested_tree (guint levels)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < levels; i++)
    g_string_append (s, "{\"value\":1,\"children\":[");
  g_string_append (s, "{\"value\":1}");
  for (guint i = 0; i < levels; i++)
    g_string_append (s, "]}");
  return g_string_free (s, FALSE);
}

static void
test_depth_guard (void)
{
  g_autoptr(SluiceSchema) tree = compile_ok (tree_schema);
  g_autofree char *fine = nested_tree (200);     /* 400 levels of nesting */
  g_autofree char *deep = nested_tree (600);     /* 1200 levels */
  g_autoptr(GPtrArray) v = NULL;
  guint tokens = 0;

  assert_valid (tree, fine);
  v = run (tree, deep, 16);
  g_assert_cmpuint (v->len, ==, 1);
  g_assert_cmpstr (((SluiceViolation *) v->pdata[0])->message, ==, "value nests deeper than 512 levels");
  g_assert_cmpstr (((SluiceViolation *) v->pdata[0])->keyword_path, ==, "/$defs/node/properties/children");
  for (const char *p = ((SluiceViolation *) v->pdata[0])->instance_path; *p; p++)
    tokens += *p == '/';
  g_assert_cmpuint (tokens, ==, 513);
  g_assert_true (g_str_has_prefix (((SluiceViolation *) v->pdata[0])->instance_path, "/children/0/children/0/"));
}

static void
test_no_secret_in_messages (void)
{
  const char *secret = "sk-live-Zq8SECRETvalue1234";
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"allOf\":[{\"maxLength\":5},{\"pattern\":\"^[0-9]+$\"},{\"enum\":[\"a\",\"b\"]},{\"const\":\"c\"},"
    "{\"type\":\"integer\"}]}");
  g_autofree char *instance = g_strdup_printf ("{\"key\":\"%s\"}", secret);
  g_autoptr(SluiceSchema) wrapped = compile_ok ("{\"properties\":{\"key\":{\"$ref\":\"#/$defs/k\"}},"
                                                "\"$defs\":{\"k\":{\"maxLength\":5,\"pattern\":\"^[0-9]+$\","
                                                "\"enum\":[\"a\",\"b\"]}}}");
  g_autofree char *bare = g_strdup_printf ("\"%s\"", secret);
  g_autoptr(GPtrArray) v = run (s, bare, 16);
  g_autoptr(GPtrArray) w = run (wrapped, instance, 16);
  g_autoptr(JsonNode) node = parse (instance);
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (v->len, ==, 5);
  g_assert_cmpuint (w->len, ==, 3);
  for (guint i = 0; i < v->len + w->len; i++)
    {
      SluiceViolation *x = i < v->len ? v->pdata[i] : w->pdata[i - v->len];

      g_assert_null (strstr (x->message, "SECRET"));
      g_assert_null (strstr (x->instance_path, "SECRET"));
    }
  assert_violation (w->pdata[0], "/key", "/$defs/k/enum", "value is not one of: a, b");
  assert_violation (w->pdata[1], "/key", "/$defs/k/maxLength", "string is longer than 5 characters");
  assert_violation (w->pdata[2], "/key", "/$defs/k/pattern", "string does not match the pattern '^[0-9]+$'");

  g_assert_false (sluice_schema_check (wrapped, node, &error));
  g_assert_null (strstr (error->message, "SECRET"));
}

static void
test_sentiment (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (sentiment_schema);

  assert_valid (s, "{\"sentiment\":\"positive\",\"confidence\":0.93,\"reasoning\":\"Praises the battery.\"}");
  assert_valid (s, "{\"reasoning\":\"mixed signals\",\"sentiment\":\"neutral\",\"confidence\":0}");
  assert_valid (s, "{\"sentiment\":\"negative\",\"confidence\":1,\"reasoning\":\"é\"}");

  assert_one (s, "{\"sentiment\":\"positive\",\"confidence\":1.5,\"reasoning\":\"r\"}",
              "/confidence", "/properties/confidence/maximum", "1.5 is greater than the maximum 1");
  assert_one (s, "{\"sentiment\":\"positive\",\"confidence\":\"high\",\"reasoning\":\"r\"}",
              "/confidence", "/properties/confidence/type", "expected number, got string");
  assert_one (s, "{\"sentiment\":\"positive\",\"confidence\":0.5}",
              "", "/required", "missing required property 'reasoning'");
  assert_one (s, "{\"sentiment\":\"positive\",\"confidance\":0.5,\"confidence\":0.5,\"reasoning\":\"r\"}",
              "/confidance", "/additionalProperties", "unknown property 'confidance'; did you mean 'confidence'?");
  assert_one (s, "{\"sentiment\":\"Positive\",\"confidence\":0.5,\"reasoning\":\"r\"}",
              "/sentiment", "/properties/sentiment/enum", "value is not one of: positive, negative, neutral");
  assert_one (s, "{\"sentiment\":\"neutral\",\"confidence\":0.5,\"reasoning\":\"\"}",
              "/reasoning", "/properties/reasoning/minLength", "string is shorter than 1 character");
  assert_one (s, "[\"positive\",0.9,\"r\"]", "", "/type", "expected object, got array");
}

static void
test_check (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (sentiment_schema);
  g_autoptr(JsonNode) bad = parse ("{\"sentiment\":\"positive\",\"confidence\":1.5,\"reasoning\":\"r\"}");
  g_autoptr(JsonNode) root_bad = parse ("[]");
  g_autoptr(JsonNode) good = parse ("{\"sentiment\":\"positive\",\"confidence\":0.5,\"reasoning\":\"r\"}");
  g_autoptr(GError) error = NULL;

  g_assert_true (sluice_schema_check (s, good, &error));
  g_assert_no_error (error);
  g_assert_false (sluice_schema_check (s, bad, &error));
  g_assert_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_VIOLATION);
  g_assert_cmpstr (error->message, ==, "/confidence: 1.5 is greater than the maximum 1");
  g_clear_error (&error);
  g_assert_false (sluice_schema_check (s, root_bad, &error));
  g_assert_cmpstr (error->message, ==, "/: expected object, got array");
  g_assert_false (sluice_schema_check (s, root_bad, NULL));
}

static void
test_property_names (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"$defs\":{\"base\":{\"properties\":{\"model\":{},\"retry\":{}}}},"
    "\"allOf\":[{\"properties\":{\"timeout\":{}}}],\"$ref\":\"#/$defs/base\","
    "\"properties\":{\"retry\":{\"properties\":{\"max\":{},\"delay~ms\":{}}},\"prompt\":{}}}");
  g_auto(GStrv) root = sluice_schema_dup_property_names (s, "");
  g_auto(GStrv) retry = sluice_schema_dup_property_names (s, "/properties/retry");
  g_auto(GStrv) missing = sluice_schema_dup_property_names (s, "/properties/nope");
  g_auto(GStrv) leaf = sluice_schema_dup_property_names (s, "/properties/prompt");
  const char *expected_root[] = { "retry", "prompt", "model", "timeout", NULL };
  const char *expected_retry[] = { "max", "delay~ms", NULL };

  g_assert_cmpstrv (root, expected_root);
  g_assert_cmpstrv (retry, expected_retry);
  g_assert_cmpuint (g_strv_length (missing), ==, 0);
  g_assert_cmpuint (g_strv_length (leaf), ==, 0);
}

static gpointer
validate_many (gpointer data)
{
  SluiceSchema *s = data;
  g_autoptr(JsonNode) good = parse ("{\"id\":\"abc\",\"n\":2}");
  g_autoptr(JsonNode) bad = parse ("{\"id\":\"ABC\",\"n\":2}");
  guint failures = 0;

  for (guint i = 0; i < 2000; i++)
    {
      if (!sluice_schema_validate (s, good, NULL, 0))
        failures++;
      if (sluice_schema_validate (s, bad, NULL, 0))
        failures++;
    }
  return GUINT_TO_POINTER (failures);
}

static gpointer
validate_annotated (gpointer data)
{
  SluiceSchema *s = data;
  g_autoptr(JsonNode) good = parse ("{\"kind\":\"a\",\"x-1\":\"s\",\"items\":[1,\"t\"]}");
  g_autoptr(JsonNode) bad = parse ("{\"kind\":\"a\",\"x-1\":\"s\",\"other\":1,\"items\":[1,\"t\",2]}");
  guint failures = 0;

  for (guint i = 0; i < 2000; i++)
    {
      g_autoptr(GPtrArray) v = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);

      if (!sluice_schema_validate (s, good, NULL, 0))
        failures++;
      if (sluice_schema_validate (s, bad, v, 10) || v->len != 2)
        failures++;
    }
  return GUINT_TO_POINTER (failures);
}

/* The same with the keywords that keep state while validating:
 * annotations, the dynamic scope, patternProperties, propertyNames. */
static void
test_threads_annotations (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"$id\":\"https://example.com/t\",\"$dynamicAnchor\":\"node\",\"propertyNames\":{\"maxLength\":8},"
    "\"anyOf\":[{\"properties\":{\"kind\":{\"const\":\"a\"}}},{\"required\":[\"z\"]}],"
    "\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
    "\"properties\":{\"items\":{\"prefixItems\":[{\"$dynamicRef\":\"#leaf\"}],\"contains\":{\"type\":\"string\"},"
    "\"unevaluatedItems\":false}},"
    "\"unevaluatedProperties\":false,\"$defs\":{\"leaf\":{\"$dynamicAnchor\":\"leaf\",\"type\":\"integer\"}}}");
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("validate", validate_annotated, sluice_schema_ref (s));
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (threads[i])), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    sluice_schema_unref (s);
}

static void
test_threads (void)
{
  g_autoptr(SluiceSchema) s = compile_ok (
    "{\"properties\":{\"id\":{\"pattern\":\"^[a-z]+$\"},\"n\":{\"enum\":[1,2,3]}}}");
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("validate", validate_many, sluice_schema_ref (s));
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (threads[i])), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    sluice_schema_unref (s);
}

/* A PCRE2 error is not "does not match": a long valid string passes
 * (the JIT stack grows to 4 MiB), and what no limit lets through is its
 * own violation. */
static void
test_pattern_engine_errors (void)
{
  g_autoptr(SluiceSchema) group = compile_ok ("{\"pattern\": \"^([a-z]|-)*$\"}");
  g_autoptr(SluiceSchema) any = compile_ok ("{\"pattern\": \"^(.|\\\\n)*$\"}");
  g_autoptr(SluiceSchema) catastrophic = compile_ok ("{\"pattern\": \"^(a+)+$\"}");
  g_autoptr(SluiceSchema) names = compile_ok ("{\"patternProperties\": {\"^(a+)+$\": {\"type\": \"string\"}}}");
  g_autoptr(GString) long_ok = g_string_new ("\"");
  g_autoptr(GString) long_lines = g_string_new ("\"");
  GString *aaa = g_string_new (NULL);
  g_autofree char *string = NULL;
  g_autofree char *object = NULL;

  for (guint i = 0; i < 5000; i++)
    {
      g_string_append (long_ok, "ab-");
      g_string_append (long_lines, "ab\\n");
    }
  g_string_append_c (long_ok, '"');
  g_string_append_c (long_lines, '"');
  assert_valid (group, long_ok->str);
  assert_valid (any, long_lines->str);
  assert_one (group, "\"ab-A\"", "", "/pattern", "string does not match the pattern '^([a-z]|-)*$'");

  for (guint i = 0; i < 40; i++)
    g_string_append_c (aaa, 'a');
  g_string_append_c (aaa, '!');
  string = g_strdup_printf ("\"%s\"", aaa->str);
  object = g_strdup_printf ("{\"%s\": 1}", aaa->str);
  assert_one (catastrophic, string, "", "/pattern",
              "the pattern '^(a+)+$' could not be checked on this string: match limit exceeded");
  assert_one (catastrophic, "\"aaab\"", "", "/pattern", "string does not match the pattern '^(a+)+$'");
  {
    g_autofree char *path = g_strdup_printf ("/%s", aaa->str);

    assert_one (names, object, path, "/patternProperties",
                "the pattern '^(a+)+$' could not be checked on this property name: match limit exceeded");
  }
  assert_valid (names, "{\"aaa\": \"x\", \"b!\": 1}");
  g_string_free (aaa, TRUE);
}

/* Each catastrophic match stops at 100,000 steps; their total is charged
 * to the validation's budget (32 steps a visit), so 6000 such strings,
 * each of which would pass through anyOf's second branch, stop the
 * validation instead of taking 6000 times as long. */
static void
test_pattern_budget (void)
{
  g_autoptr(SluiceSchema) s = compile_ok ("{\"type\": \"array\", \"items\": "
                                          "{\"anyOf\": [{\"pattern\": \"^(a+)+$\"}, {\"type\": \"string\"}]}}");
  g_autoptr(GString) few = g_string_new ("[");
  g_autoptr(GString) many = g_string_new ("[");
  const char *item = "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"";

  for (guint i = 0; i < 6000; i++)
    {
      if (i < 100)
        g_string_append_printf (few, "%s%s", i > 0 ? "," : "", item);
      g_string_append_printf (many, "%s%s", i > 0 ? "," : "", item);
    }
  g_string_append_c (few, ']');
  g_string_append_c (many, ']');
  assert_valid (s, few->str);
  assert_one (s, many->str, "", "",
              "the value is too costly to check against this schema (its patterns took more than the "
              "536870912 matching steps allowed, less its subschema visits)");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/schema/pointer/append", test_pointer_append);
  g_test_add_func ("/schema/pointer/resolve", test_pointer_resolve);
  g_test_add_func ("/schema/keyword/type", test_type);
  g_test_add_func ("/schema/keyword/enum", test_enum);
  g_test_add_func ("/schema/keyword/const", test_const);
  g_test_add_func ("/schema/keyword/numbers", test_numbers);
  g_test_add_func ("/schema/keyword/strings", test_strings);
  g_test_add_func ("/schema/keyword/objects", test_objects);
  g_test_add_func ("/schema/keyword/additional-did-you-mean", test_did_you_mean);
  g_test_add_func ("/schema/keyword/arrays", test_arrays);
  g_test_add_func ("/schema/keyword/combinators", test_combinators);
  g_test_add_func ("/schema/keyword/one-of-none-and-not", test_combinators_one_of_none);
  g_test_add_func ("/schema/keyword/combinators-closest", test_combinators_closest);
  g_test_add_func ("/schema/keyword/boolean-schemas", test_boolean_schemas);
  g_test_add_func ("/schema/keyword/ignored", test_ignored_keywords);
  g_test_add_func ("/schema/collect-limit", test_collect_limit);
  g_test_add_func ("/schema/compile/malformed", test_malformed);
  g_test_add_func ("/schema/compile/all-keywords", test_all_keywords);
  g_test_add_func ("/schema/keyword/conditionals", test_conditionals);
  g_test_add_func ("/schema/keyword/arrays-2020", test_arrays_2020);
  g_test_add_func ("/schema/keyword/objects-2020", test_object_keywords_2020);
  g_test_add_func ("/schema/keyword/format", test_format);
  g_test_add_func ("/schema/keyword/regex-dialect", test_regex_dialect);
  g_test_add_func ("/schema/keyword/multiple-of-exact", test_multiple_of_exact);
  g_test_add_func ("/schema/draft7", test_draft7);
  g_test_add_func ("/schema/ref/registry", test_registry);
  g_test_add_func ("/schema/ref/base-uri", test_base_uri);
  g_test_add_func ("/schema/ref/dynamic", test_dynamic_ref);
  g_test_add_func ("/schema/compile/loops", test_loops);
  g_test_add_func ("/schema/ref/recursive", test_recursive_ref);
  g_test_add_func ("/schema/depth-guard", test_depth_guard);
  g_test_add_func ("/schema/no-secret-in-messages", test_no_secret_in_messages);
  g_test_add_func ("/schema/sentiment", test_sentiment);
  g_test_add_func ("/schema/check", test_check);
  g_test_add_func ("/schema/pattern-engine-errors", test_pattern_engine_errors);
  g_test_add_func ("/schema/pattern-budget", test_pattern_budget);
  g_test_add_func ("/schema/property-names", test_property_names);
  g_test_add_func ("/schema/threads", test_threads);
  g_test_add_func ("/schema/threads-annotations", test_threads_annotations);

  return g_test_run ();
}
