/* sluice-budget.c — spending caps per UTC day and month.
 *
 * What was spent before the process started comes from the ledger (the
 * attempts table the sqlite sink writes), read once per scope at start
 * and again when the day or month turns. What this process spends after
 * that is tracked here: each attempt reserves its estimated cost before
 * it is sent and settles it with the actual cost after, so that
 * concurrent requests cannot together pass a cap. Spending by other
 * processes after the start is not seen (a shared PostgreSQL ledger is
 * planned for that).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-budget"

#include "sluice-budget-private.h"

#include <sqlite3.h>
#include <string.h>

#define DEFAULT_COMPLETION_TOKENS 1024

typedef enum
{
  SCOPE_OVERALL,
  SCOPE_PIPELINE,
  SCOPE_LABEL,
} ScopeKind;

typedef struct
{
  ScopeKind kind;
  char     *label;   /* SCOPE_LABEL */
} Scope;

/* One scope value's money: what the ledger had, what was spent here
 * since, and what attempts in flight have reserved. */
typedef struct
{
  gdouble ledger_day;
  gdouble ledger_month;
  gdouble here_day;
  gdouble here_month;
  gdouble reserved;
} Account;

typedef struct
{
  gdouble    amount;
  GPtrArray *accounts;   /* Account *, borrowed from the table */
} Reservation;

struct _SluiceBudget
{
  GObject     parent_instance;

  char       *pipeline;
  char       *ledger_path;
  gdouble     daily_usd;     /* <= 0: no cap */
  gdouble     monthly_usd;
  gint64      completion_tokens;
  GPtrArray  *scopes;        /* Scope * */
  char        day[16];       /* YYYY-MM-DD the accounts are for */
  char        month[16];     /* YYYY-MM */
  GHashTable *accounts;      /* "scope index \x1f value" → Account * */
  GHashTable *reservations;  /* id → Reservation * */
  GHashTable *unpriced;      /* models warned about */
  guint64     next_id;
  guint       n_refused;
};

G_DEFINE_FINAL_TYPE (SluiceBudget, sluice_budget, G_TYPE_OBJECT)

static void
scope_free (Scope *scope)
{
  g_free (scope->label);
  g_free (scope);
}

static void
reservation_free (Reservation *reservation)
{
  g_ptr_array_unref (reservation->accounts);
  g_free (reservation);
}

static void
sluice_budget_finalize (GObject *object)
{
  SluiceBudget *self = SLUICE_BUDGET (object);

  g_free (self->pipeline);
  g_free (self->ledger_path);
  g_ptr_array_unref (self->scopes);
  g_hash_table_unref (self->reservations);
  g_hash_table_unref (self->accounts);
  g_hash_table_unref (self->unpriced);
  G_OBJECT_CLASS (sluice_budget_parent_class)->finalize (object);
}

static void
sluice_budget_class_init (SluiceBudgetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_budget_finalize;
}

static void
sluice_budget_init (SluiceBudget *self)
{
  self->scopes = g_ptr_array_new_with_free_func ((GDestroyNotify) scope_free);
  self->accounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->reservations = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                              (GDestroyNotify) reservation_free);
  self->unpriced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* ---- configuration ------------------------------------------------------------ */

static gboolean
read_cap (JsonObject  *config,
          const char  *member,
          gdouble     *out,
          GError     **error)
{
  JsonNode *node = json_object_get_member (config, member);

  *out = 0;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_DOUBLE && json_node_get_value_type (node) != G_TYPE_INT64) ||
      json_node_get_double (node) <= 0)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "budget: '%s' must be a number of US dollars above 0", member);
      return FALSE;
    }
  *out = json_node_get_double (node);
  return TRUE;
}

static gboolean
label_name_ok (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

static gboolean
read_scopes (SluiceBudget  *self,
             JsonObject    *config,
             GError       **error)
{
  JsonNode *node = json_object_get_member (config, "per");
  JsonArray *per;

  if (node == NULL)
    {
      Scope *scope = g_new0 (Scope, 1);

      scope->kind = SCOPE_PIPELINE;
      g_ptr_array_add (self->scopes, scope);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    goto bad;
  per = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (per); i++)
    {
      JsonNode *element = json_array_get_element (per, i);
      const char *text = JSON_NODE_HOLDS_VALUE (element) && json_node_get_value_type (element) == G_TYPE_STRING
                         ? json_node_get_string (element) : NULL;
      Scope *scope;

      if (text == NULL)
        goto bad;
      scope = g_new0 (Scope, 1);
      if (g_str_equal (text, "overall"))
        scope->kind = SCOPE_OVERALL;
      else if (g_str_equal (text, "pipeline"))
        scope->kind = SCOPE_PIPELINE;
      else if (g_str_has_prefix (text, "label:") && label_name_ok (text + 6))
        {
          scope->kind = SCOPE_LABEL;
          scope->label = g_strdup (text + 6);
        }
      else
        {
          g_free (scope);
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "budget: unknown scope '%s' in 'per' (overall, pipeline, or label:NAME)", text);
          return FALSE;
        }
      g_ptr_array_add (self->scopes, scope);
    }
  return TRUE;

bad:
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "budget: 'per' must be a list of scopes: overall, pipeline, label:NAME");
  return FALSE;
}

/* ---- the ledger ------------------------------------------------------------------ */

static void
period_starts (char *day,
               char *month)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *d = g_date_time_format (now, "%Y-%m-%d");
  g_autofree char *m = g_date_time_format (now, "%Y-%m");

  g_strlcpy (day, d, 16);
  g_strlcpy (month, m, 16);
}

static char *
account_key (guint       scope_index,
             const char *value)
{
  return g_strdup_printf ("%u\x1f%s", scope_index, value != NULL ? value : "");
}

static Account *
lookup_account (SluiceBudget *self,
                guint         scope_index,
                const char   *value)
{
  g_autofree char *key = account_key (scope_index, value);
  Account *account = g_hash_table_lookup (self->accounts, key);

  if (account == NULL)
    {
      account = g_new0 (Account, 1);
      g_hash_table_insert (self->accounts, g_steal_pointer (&key), account);
    }
  return account;
}

/* Sums the ledger's attempts since @since (an ISO 8601 prefix) per value
 * of the scope into the accounts, as their day or month figure. */
static gboolean
read_ledger_sums (SluiceBudget  *self,
                  sqlite3       *db,
                  guint          scope_index,
                  const char    *since,
                  gboolean       is_month,
                  GError       **error)
{
  Scope *scope = g_ptr_array_index (self->scopes, scope_index);
  g_autofree char *path = NULL;
  g_autofree char *sql = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      sql = g_strdup ("SELECT '', SUM(cost_usd) FROM attempts WHERE time >= ?1");
      break;
    case SCOPE_PIPELINE:
      sql = g_strdup ("SELECT pipeline, SUM(cost_usd) FROM attempts WHERE time >= ?1 GROUP BY 1");
      break;
    default:
      path = g_strdup_printf ("$.\"%s\"", scope->label);
      sql = g_strdup ("SELECT json_extract(labels, ?2), SUM(cost_usd) FROM attempts "
                      "WHERE time >= ?1 AND json_valid(labels) GROUP BY 1");
      break;
    }
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      /* A ledger that has never had an attempt holds no table yet. */
      if (strstr (sqlite3_errmsg (db), "no such table") != NULL)
        return TRUE;
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot read the ledger %s: %s",
                   self->ledger_path, sqlite3_errmsg (db));
      return FALSE;
    }
  sqlite3_bind_text (stmt, 1, since, -1, SQLITE_TRANSIENT);
  if (path != NULL)
    sqlite3_bind_text (stmt, 2, path, -1, SQLITE_TRANSIENT);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *value = (const char *) sqlite3_column_text (stmt, 0);
      Account *account = lookup_account (self, scope_index, value != NULL ? value : "");

      if (is_month)
        account->ledger_month = sqlite3_column_double (stmt, 1);
      else
        account->ledger_day = sqlite3_column_double (stmt, 1);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot read the ledger %s: %s",
                   self->ledger_path, sqlite3_errmsg (db));
      return FALSE;
    }
  return TRUE;
}

/* (Re)loads the day's and month's spending; in-process figures start
 * afresh, since what was spent here is in the ledger by now or soon. */
static gboolean
load_ledger (SluiceBudget  *self,
             GError       **error)
{
  g_autofree char *day_start = NULL;
  g_autofree char *month_start = NULL;
  GHashTableIter iter;
  gpointer value;
  sqlite3 *db = NULL;
  gboolean ok = TRUE;

  period_starts (self->day, self->month);
  g_hash_table_iter_init (&iter, self->accounts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Account *account = value;

      account->ledger_day = account->ledger_month = 0;
      account->here_day = account->here_month = 0;
    }
  if (!g_file_test (self->ledger_path, G_FILE_TEST_EXISTS))
    return TRUE;   /* nothing spent yet */

  if (sqlite3_open_v2 (self->ledger_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot open the ledger %s: %s",
                   self->ledger_path, db != NULL ? sqlite3_errmsg (db) : "out of memory");
      sqlite3_close (db);
      return FALSE;
    }
  sqlite3_busy_timeout (db, 5000);
  day_start = g_strdup_printf ("%sT00:00:00", self->day);
  month_start = g_strdup_printf ("%s-01T00:00:00", self->month);
  for (guint i = 0; ok && i < self->scopes->len; i++)
    ok = read_ledger_sums (self, db, i, day_start, FALSE, error) &&
         read_ledger_sums (self, db, i, month_start, TRUE, error);
  sqlite3_close (db);
  return ok;
}

SluiceBudget *
sluice_budget_new (JsonObject  *config,
                   const char  *pipeline_name,
                   GError     **error)
{
  g_autoptr(SluiceBudget) self = g_object_new (SLUICE_TYPE_BUDGET, NULL);
  static const char * const known[] = { "daily_usd", "monthly_usd", "per", "ledger", "estimate_completion_tokens", NULL };
  g_autoptr(GList) members = json_object_get_members (config);
  const char *ledger;

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                     "budget: unknown member '%s' (known: daily_usd, monthly_usd, per, ledger, "
                     "estimate_completion_tokens)", (const char *) l->data);
        return NULL;
      }
  if (!read_cap (config, "daily_usd", &self->daily_usd, error) ||
      !read_cap (config, "monthly_usd", &self->monthly_usd, error) ||
      !read_scopes (self, config, error))
    return NULL;
  if (self->daily_usd <= 0 && self->monthly_usd <= 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "budget: give a cap: daily_usd, monthly_usd or both");
      return NULL;
    }
  self->completion_tokens = sluice_json_get_int (config, "estimate_completion_tokens", DEFAULT_COMPLETION_TOKENS);
  if (self->completion_tokens < 0 || self->completion_tokens > SLUICE_MAX_COUNT)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "budget: 'estimate_completion_tokens' must be 0 or more");
      return NULL;
    }
  ledger = sluice_json_get_string (config, "ledger");
  self->ledger_path = ledger != NULL && *ledger != '\0' ? g_strdup (ledger)
                                                        : g_build_filename (sluice_get_state_dir (), "ledger.db", NULL);
  self->pipeline = g_strdup (pipeline_name != NULL ? pipeline_name : "");
  if (!load_ledger (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* ---- checking --------------------------------------------------------------------- */

gdouble
sluice_budget_estimate (SluiceBudget  *self,
                        SluiceContext *context,
                        JsonObject    *target)
{
  const char *provider = sluice_json_get_string (target, "provider");
  const char *model = sluice_json_get_string (target, "model");
  gint64 prompt = sluice_json_get_int (sluice_context_get_variables (context), "input_tokens", -1);
  gint64 completion = sluice_json_get_int (target, "max_tokens", self->completion_tokens);
  gdouble cost;

  g_return_val_if_fail (SLUICE_IS_BUDGET (self), -1);

  if (prompt < 0)
    prompt = sluice_estimate_message_tokens (sluice_context_get_messages (context));
  cost = sluice_catalog_compute_cost (sluice_catalog_get_default (), provider, model,
                                      prompt, MAX (completion, 0), 0);
  if (cost < 0 && model != NULL && !g_hash_table_contains (self->unpriced, model))
    {
      g_hash_table_add (self->unpriced, g_strdup (model));
      g_warning ("budget: model '%s' of provider '%s' has no price in the catalog: "
                 "its cost cannot be capped", model, provider != NULL ? provider : "");
    }
  return cost;
}

static const char *
scope_value (SluiceBudget  *self,
             Scope         *scope,
             SluiceContext *context)
{
  const char *value;

  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      return "";
    case SCOPE_PIPELINE:
      return self->pipeline;
    default:
      value = sluice_context_get_label (context, scope->label);
      return value != NULL ? value : "";
    }
}

static char *
describe_scope (Scope      *scope,
                const char *value)
{
  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      return g_strdup ("overall");
    case SCOPE_PIPELINE:
      return g_strdup_printf ("for pipeline '%s'", value);
    default:
      return g_strdup_printf ("for %s '%s'", scope->label, value);
    }
}

/* A cap passed: the message and a logged event. */
static gboolean
refuse (SluiceBudget  *self,
        Scope         *scope,
        const char    *value,
        const char    *period,
        gdouble        cap,
        gdouble        spent,
        gdouble        estimate,
        GError       **error)
{
  g_autofree char *who = describe_scope (scope, value);

  self->n_refused++;
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED,
               "%s budget of $%.6g %s would be passed: $%.6g spent, this request up to $%.6g",
               period, cap, who, spent, estimate);
  g_message ("budget: refused a request: %s", (*error)->message);
  return FALSE;
}

guint64
sluice_budget_reserve (SluiceBudget   *self,
                       SluiceContext  *context,
                       gdouble         estimate_usd,
                       GError        **error)
{
  g_autoptr(GPtrArray) accounts = g_ptr_array_new ();
  char day[16], month[16];
  Reservation *reservation;
  guint64 *id;

  g_return_val_if_fail (SLUICE_IS_BUDGET (self), 0);

  period_starts (day, month);
  if ((strcmp (day, self->day) != 0 || strcmp (month, self->month) != 0) && !load_ledger (self, error))
    return 0;
  estimate_usd = MAX (estimate_usd, 0);

  for (guint i = 0; i < self->scopes->len; i++)
    {
      Scope *scope = g_ptr_array_index (self->scopes, i);
      const char *value = scope_value (self, scope, context);
      Account *account = lookup_account (self, i, value);
      gdouble day_spent = account->ledger_day + account->here_day + account->reserved;
      gdouble month_spent = account->ledger_month + account->here_month + account->reserved;

      if (self->daily_usd > 0 && day_spent + estimate_usd > self->daily_usd)
        return refuse (self, scope, value, "daily", self->daily_usd, day_spent, estimate_usd, error);
      if (self->monthly_usd > 0 && month_spent + estimate_usd > self->monthly_usd)
        return refuse (self, scope, value, "monthly", self->monthly_usd, month_spent, estimate_usd, error);
      g_ptr_array_add (accounts, account);
    }

  reservation = g_new0 (Reservation, 1);
  reservation->amount = estimate_usd;
  reservation->accounts = g_steal_pointer (&accounts);
  for (guint i = 0; i < reservation->accounts->len; i++)
    ((Account *) g_ptr_array_index (reservation->accounts, i))->reserved += estimate_usd;
  id = g_new (guint64, 1);
  *id = ++self->next_id;
  g_hash_table_insert (self->reservations, id, reservation);
  return *id;
}

void
sluice_budget_settle (SluiceBudget *self,
                      guint64       reservation_id,
                      gdouble       actual_usd)
{
  Reservation *reservation;

  g_return_if_fail (SLUICE_IS_BUDGET (self));

  reservation = g_hash_table_lookup (self->reservations, &reservation_id);
  if (reservation == NULL)
    return;
  if (actual_usd < 0)
    actual_usd = reservation->amount;
  for (guint i = 0; i < reservation->accounts->len; i++)
    {
      Account *account = g_ptr_array_index (reservation->accounts, i);

      account->reserved = MAX (account->reserved - reservation->amount, 0);
      account->here_day += actual_usd;
      account->here_month += actual_usd;
    }
  g_hash_table_remove (self->reservations, &reservation_id);
}

guint
sluice_budget_get_n_refused (SluiceBudget *self)
{
  g_return_val_if_fail (SLUICE_IS_BUDGET (self), 0);
  return self->n_refused;
}
