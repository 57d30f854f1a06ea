/* sluice-cache-plugin.c — registers the 'cache' stage with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-cache-stage.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_STAGE, SLUICE_TYPE_CACHE_STAGE);
}
