/* What the rest of the library uses from src/layers: the registry that
 * maps a Keras class name to its layer operations. */
#ifndef CK_LAYERS_H
#define CK_LAYERS_H

#include "ck_internal.h"

/* One line per layer in registry.def; NULL for an unknown class. */
const ck_layer_ops *ck_layer_ops_find(const char *class_name);
/* A layer of Keras class `class_name` from its config: the class's
 * from_config (which sees every *_regularizer and *_constraint as null),
 * then the layer's regularizers, constraints and trainable flag. */
ck_layer *ck_layer_from_config(const char *class_name, const cJSON *cfg,
                               ck_keras_semantics semantics);

#endif
