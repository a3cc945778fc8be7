/* What the rest of the library uses from src/layers: the registry that
 * maps a Keras class name to its layer operations. */
#ifndef CK_LAYERS_H
#define CK_LAYERS_H

#include "ck_internal.h"

/* One line per layer in registry.def; NULL for an unknown class. */
const ck_layer_ops *ck_layer_ops_find(const char *class_name);

#endif
