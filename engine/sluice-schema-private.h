/* sluice-schema-private.h — compiled JSON Schema validator (private to libsluice-1)
 *
 * A schema is compiled once into a tree of C structs and can then validate
 * any number of instances, from several threads at once.  The supported
 * keywords are a subset of draft 2020-12; keywords that are valid JSON Schema
 * but not implemented yet make sluice_schema_new() fail instead of being
 * silently ignored.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * SLUICE_SCHEMA_ERROR:
 *
 * Error domain of the schema validator.  Errors in this domain are from
 * the #SluiceSchemaError enumeration.
 */
#define SLUICE_SCHEMA_ERROR (sluice_schema_error_quark ())

/**
 * SluiceSchemaError:
 * @SLUICE_SCHEMA_ERROR_INVALID: the schema itself is malformed or uses a
 *   keyword that is not supported yet; the message starts with the JSON
 *   Pointer of the offending location ("/" for the root)
 * @SLUICE_SCHEMA_ERROR_VIOLATION: an instance does not satisfy the schema
 *   (sluice_schema_check())
 *
 * Stable error codes of %SLUICE_SCHEMA_ERROR.
 */
typedef enum {
  SLUICE_SCHEMA_ERROR_INVALID,
  SLUICE_SCHEMA_ERROR_VIOLATION,
} SluiceSchemaError;

GQuark sluice_schema_error_quark (void);

/**
 * SluiceSchema:
 *
 * A compiled schema: immutable and reference counted.  Validating the same
 * schema from several threads at once is safe.
 */
typedef struct _SluiceSchema SluiceSchema;

/**
 * SluiceViolation:
 * @instance_path: JSON Pointer into the instance ("" for the root), RFC 6901
 *   escaped, e.g. "/items/2/name"
 * @keyword_path: JSON Pointer of the failing keyword in the schema document,
 *   after `$ref` resolution, e.g. "/properties/confidence/maximum" or
 *   "/$defs/node/properties/value/type"
 * @message: a sentence for a person, e.g. "1.5 is greater than the maximum 1".
 *   It never quotes a string value of the instance (those may be secrets);
 *   numbers, lengths, property names and type names may appear.
 *
 * One reason an instance failed validation.
 */
typedef struct {
  char *instance_path;
  char *keyword_path;
  char *message;
} SluiceViolation;

void sluice_violation_free (SluiceViolation *v);

SluiceSchema *sluice_schema_new              (JsonNode      *schema,
                                              GError       **error);
SluiceSchema *sluice_schema_new_from_string  (const char    *json,
                                              GError       **error);
SluiceSchema *sluice_schema_ref              (SluiceSchema  *s);
void          sluice_schema_unref            (SluiceSchema  *s);
gboolean      sluice_schema_validate         (SluiceSchema  *s,
                                              JsonNode      *instance,
                                              GPtrArray     *violations,
                                              guint          max_violations);
gboolean      sluice_schema_check            (SluiceSchema  *s,
                                              JsonNode      *instance,
                                              GError       **error);
char        **sluice_schema_dup_property_names (SluiceSchema *s,
                                                const char   *pointer);

char         *sluice_json_pointer_append     (const char    *base,
                                              const char    *token);
JsonNode     *sluice_json_pointer_resolve    (JsonNode      *root,
                                              const char    *pointer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceSchema, sluice_schema_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceViolation, sluice_violation_free)

G_END_DECLS
