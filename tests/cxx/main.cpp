// The public headers from C++17: every constructor macro with options, as
// a C++ user writes them (designated initializers, all named, in the order
// the options struct declares them). Built with g++ and clang++ by the
// ctest entry "cxx" (tests/cxx/check.cmake); prints "cxx check: ok".
#include <ckeras.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace
{

int failures = 0;

void check(bool ok, const std::string &what)
{
    if (!ok) {
        std::fprintf(stderr, "cxx check: %s failed: %s\n", what.c_str(), ck_last_error());
        failures++;
    }
}

// A freshly made layer has the Keras class and the name it was given (a
// layer without a name gets one when it is added to a model).
void check_layer(ck_layer *layer, const char *class_name, const char *name)
{
    check(layer != nullptr, std::string("constructing ") + class_name);
    if (!layer)
        return;
    check(std::string(ck_layer_class_name(layer)) == class_name,
          std::string("class of ") + class_name);
    if (name)
        check(std::string(ck_layer_name(layer)) == name, std::string("name of ") + name);
    ck_layer_free(layer);
}

void every_layer_constructor()
{
    check_layer(ck_input_named("frames", 5, 3), "InputLayer", "frames");
    check_layer(ck_dense(.units = 4, .activation = "relu", .no_bias = true,
                         .kernel_initializer = CK_INIT("random_normal", .stddev = 0.1),
                         .name = "d"),
                "Dense", "d");
    check_layer(ck_lstm(.units = 8, .activation = "tanh", .return_sequences = true, .dropout = 0.1,
                        .name = "l", .recurrent_activation = "sigmoid",
                        .no_unit_forget_bias = true),
                "LSTM", "l");
    check_layer(ck_gru(.units = 8, .go_backwards = true, .name = "g", .no_reset_after = true),
                "GRU", "g");
    check_layer(ck_simple_rnn(.units = 8, .stateful = false, .name = "s"), "SimpleRNN", "s");
    check_layer(ck_bidirectional(ck_lstm(.units = 4), .merge_mode = "sum", .name = "bi"),
                "Bidirectional", "bi");
    check_layer(ck_softmax(.axis = -1, .name = "sm"), "Softmax", "sm");
    check_layer(ck_activation(.activation = "tanh", .name = "act"), "Activation", "act");
    check_layer(ck_dropout(.rate = 0.5, .name = "drop"), "Dropout", "drop");
    check_layer(ck_embedding(.input_dim = 10, .output_dim = 4, .mask_zero = true, .name = "emb"),
                "Embedding", "emb");
    check_layer(ck_masking(.mask_value = -1, .name = "mask"), "Masking", "mask");
    check_layer(ck_time_distributed(.layer = ck_dense(.units = 2), .name = "td"), "TimeDistributed",
                "td");
    check_layer(ck_repeat_vector(.n = 3, .name = "rep"), "RepeatVector", "rep");
    check_layer(ck_flatten(.name = "flat"), "Flatten", "flat");
    check_layer(ck_reshape(3, 5), "Reshape", nullptr);
    check_layer(ck_permute(2, 1), "Permute", nullptr);
    check_layer(ck_spatial_dropout1d(.rate = 0.2, .name = "sd"), "SpatialDropout1D", "sd");
    check_layer(ck_gaussian_noise(.stddev = 0.1, .name = "noise"), "GaussianNoise", "noise");
    check_layer(ck_gaussian_dropout(.rate = 0.1, .name = "gd"), "GaussianDropout", "gd");
    check_layer(ck_alpha_dropout(.rate = 0.1, .name = "ad", .noise_shape = {CK_NONE, 1, CK_NONE},
                                 .noise_rank = 3),
                "AlphaDropout", "ad");
    check_layer(ck_zero_padding1d(.padding = {1, 2}, .name = "zp"), "ZeroPadding1D", "zp");
    check_layer(ck_cropping1d(.cropping = {1, 0}, .name = "crop"), "Cropping1D", "crop");
    check_layer(ck_up_sampling1d(.size = 3, .name = "up"), "UpSampling1D", "up");
    check_layer(ck_activity_regularization(.l1 = 0.01, .l2 = 0.02, .name = "areg"),
                "ActivityRegularization", "areg");
    check_layer(ck_layer_normalization(.epsilon = 1e-5, .gamma_initializer = CK_INIT("ones"),
                                       .name = "ln"),
                "LayerNormalization", "ln");
    check_layer(ck_batch_normalization(.momentum = 0.9, .no_scale = true, .name = "bn"),
                "BatchNormalization", "bn");
    check_layer(ck_conv1d(.filters = 4, .kernel_size = 3, .padding = "causal", .dilation_rate = 2,
                          .activation = "relu", .name = "conv"),
                "Conv1D", "conv");
    check_layer(ck_max_pooling1d(.pool_size = 2, .padding = "same", .name = "maxp"), "MaxPooling1D",
                "maxp");
    check_layer(ck_average_pooling1d(.pool_size = 3, .strides = 1, .name = "avgp"),
                "AveragePooling1D", "avgp");
    check_layer(ck_global_average_pooling1d(.keepdims = true, .name = "gap"),
                "GlobalAveragePooling1D", "gap");
    check_layer(ck_global_max_pooling1d(.name = "gmp"), "GlobalMaxPooling1D", "gmp");
}

void regularizers_and_constraints()
{
    ck_layer *d = ck_dense(.units = 2);
    check(ck_layer_set_regularizer(d, "kernel", ck_l1(0.01)) == CK_OK, "ck_l1");
    check(ck_layer_set_regularizer(d, "kernel", ck_l2(0.01)) == CK_OK, "ck_l2");
    check(ck_layer_set_regularizer(d, "bias", ck_l1_l2(0.01, 0.02)) == CK_OK, "ck_l1_l2");
    check(ck_layer_set_constraint(d, "kernel", ck_max_norm(.max_value = 2)) == CK_OK, "max_norm");
    check(ck_layer_set_constraint(d, "kernel", ck_non_neg()) == CK_OK, "non_neg");
    check(ck_layer_set_constraint(d, "kernel", ck_unit_norm()) == CK_OK, "unit_norm");
    check(ck_layer_set_constraint(
              d, "kernel", ck_min_max_norm(.max_value = 1, .min_value = 0.5, .rate = 1)) == CK_OK,
          "min_max_norm");
    ck_layer_free(d);
}

// Each schedule at step 10, against Keras's formula.
void schedules()
{
    struct {
        const char *what;
        ck_lr_schedule schedule;
        double expected;
    } cases[] = {
        {"exponential",
         ck_exponential_decay(.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 0.5),
         0.05},
        {"inverse_time",
         ck_inverse_time_decay(.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 1),
         0.05},
        {"polynomial",
         ck_polynomial_decay(.initial_learning_rate = 0.1, .decay_steps = 20,
                             .end_learning_rate = 0.05, .power = 1),
         0.075},
        {"piecewise",
         ck_piecewise_constant_decay(.n_boundaries = 1, .boundaries = {5}, .values = {0.1, 0.01}),
         0.01},
        {"cosine", ck_cosine_decay(.initial_learning_rate = 0.1, .decay_steps = 20), 0.05},
    };
    for (const auto &c : cases) {
        double lr = 0;
        check(ck_lr_schedule_value(&c.schedule, 10, &lr) == CK_OK, c.what);
        check(std::fabs(lr - c.expected) < 1e-7,
              std::string(c.what) + " value " + std::to_string(lr));
    }
}

void optimizers()
{
    ck_optimizer_options all[] = {
        ck_sgd(.learning_rate = 0.1, .momentum = 0.9, .nesterov = true),
        ck_adam(.learning_rate = 1e-3, .beta_1 = 0.8, .amsgrad = true, .clipnorm = 1),
        ck_rmsprop(.rho = 0.8, .centered = true),
        ck_adagrad(.initial_accumulator_value = 0.2),
        ck_nadam(.epsilon = 1e-6),
        ck_adamax(.beta_2 = 0.99),
        ck_adamw(.learning_rate = 1e-3, .weight_decay = 0.01),
        ck_sgd(.learning_rate_schedule = ck_exponential_decay(.initial_learning_rate = 0.1,
                                                              .decay_steps = 10,
                                                              .decay_rate = 0.9)),
    };
    for (const auto &opt : all) {
        ck_model *m = ck_sequential(.seed = 3);
        ck_model_add(m, ck_input(2));
        ck_model_add(m, ck_dense(.units = 1));
        check(ck_model_compile(m, .optimizer = opt, .loss = "mse") == CK_OK,
              std::string("compile with ") + opt.name);
        ck_model_free(m);
    }
}

ck_status count_epoch(ck_model *, int, const ck_epoch_logs *, void *user_data)
{
    ++*static_cast<int *>(user_data);
    return CK_OK;
}

double halve(int, double lr, void *)
{
    return lr / 2;
}

// A Dense layer of ones maps (1, 2, 3) to 6; trained, saved and reloaded
// through every option-taking call of training and input/output.
void train_save_load(const std::string &dir)
{
    ck_model *m = ck_sequential(.name = "cxx", .seed = 1);
    ck_model_add(m, ck_input(3));
    ck_model_add(m, ck_dense(.units = 1, .kernel_initializer = CK_INIT("ones")));
    float one[3] = {1, 2, 3}, y = 0;
    check(ck_model_predict(m, one, 1, &y) == CK_OK && y == 6.0f, "predict with a kernel of ones");

    check(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.01), .loss = "mse",
                           .metrics = {"mae"}) == CK_OK,
          "compile");
    float xs[8 * 3], ys[8];
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 3; j++)
            xs[i * 3 + j] = (float)(i + j) / 8;
        ys[i] = xs[i * 3] + xs[i * 3 + 1] + xs[i * 3 + 2];
    }
    ck_tensor x = {.rank = 2, .dims = {8, 3}, .data = xs};
    ck_tensor t = {.rank = 2, .dims = {8, 1}, .data = ys};
    std::string csv = dir + "/log.csv", ckpt = dir + "/ckpt.h5";
    int epochs_seen = 0;
    ck_history *history = nullptr;
    ck_status st = ck_model_fit(
        m, &x, &t, &history, .epochs = 3, .batch_size = 4, .validation_split = 0.25,
        .callbacks = {ck_cb_early_stopping(.monitor = "val_loss", .patience = 5),
                      ck_cb_model_checkpoint(.filepath = ckpt.c_str(), .save_best_only = true),
                      ck_cb_reduce_lr_on_plateau(.factor = 0.5, .patience = 1),
                      ck_cb_learning_rate_scheduler(.schedule = halve),
                      ck_cb_csv_logger(.filename = csv.c_str(), .separator = ";"),
                      ck_cb_terminate_on_nan(),
                      ck_cb_lambda(.on_epoch_end = count_epoch, .user_data = &epochs_seen)});
    check(st == CK_OK, "fit with every callback");
    check(history && ck_history_epochs(history) == 3 && epochs_seen == 3, "three epochs");
    ck_history_free(history);
    struct stat info;
    check(stat(csv.c_str(), &info) == 0 && stat(ckpt.c_str(), &info) == 0,
          "CSV log and checkpoint written");

    float before = 0, after = 0;
    check(ck_model_predict(m, one, 1, &before) == CK_OK, "predict after fit");
    std::string path = dir + "/cxx.h5", weights = dir + "/cxx_weights.h5";
    check(ck_model_save(m, path.c_str(), .no_optimizer = true) == CK_OK, "save");
    check(ck_model_save_weights(m, weights.c_str(), .keras3_layout = false) == CK_OK,
          "save_weights");
    ck_model *loaded = nullptr;
    ck_name_map map[] = {{"my_relu", "relu"}};
    check(ck_model_load(path.c_str(), &loaded, .map = map, .n_map = 1) == CK_OK, "load");
    check(loaded && ck_model_predict(loaded, one, 1, &after) == CK_OK && after == before,
          "reloaded model predicts the same");
    char *json = ck_model_to_json(m);
    ck_model *from_json = nullptr;
    check(json && ck_model_from_json(json, &from_json, .format = CK_FORMAT_AUTO) == CK_OK,
          "from_json");
    check(from_json && ck_model_build(from_json) == CK_OK &&
              ck_model_load_weights(from_json, weights.c_str(), .by_name = true,
                                    .skip_mismatch = true) == CK_OK,
          "load_weights");
    after = 0;
    check(from_json && ck_model_predict(from_json, one, 1, &after) == CK_OK && after == before,
          "JSON model with the saved weights predicts the same");
    ck_free(json);
    ck_model_free(from_json);
    ck_model_free(loaded);
    ck_model_free(m);
}

// DIR/<class>/<sequence>/<frame>.npy, two classes of one two-frame sequence.
void sequence_dir(const std::string &dir)
{
    std::string root = dir + "/seq";
    const char *const names[] = {"up", "down"};
    float frame[2] = {1, 2};
    ck_tensor t = {.rank = 1, .dims = {2}, .data = frame};
    mkdir(root.c_str(), 0700);
    for (const char *name : names) {
        std::string seq = root + "/" + name;
        mkdir(seq.c_str(), 0700);
        mkdir((seq + "/0").c_str(), 0700);
        for (const char *f : {"/0/0.npy", "/0/1.npy"})
            check(ck_npy_write((seq + f).c_str(), &t) == CK_OK, "writing a frame");
    }
    ck_sequence_data data{};
    check(ck_sequence_dir_read(root.c_str(), &data, .classes = names, .n_classes = 2,
                               .frames = 2) == CK_OK,
          "sequence_dir_read");
    check(data.x.rank == 3 && data.x.dims[0] == 2 && data.x.dims[1] == 2 && data.x.dims[2] == 2 &&
              data.ids[0] == 0 && data.ids[1] == 1,
          "sequences in class order");
    ck_sequence_data_free(&data);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    every_layer_constructor();
    regularizers_and_constraints();
    schedules();
    optimizers();
    train_save_load(argv[1]);
    sequence_dir(argv[1]);
    if (failures)
        return 1;
    std::printf("cxx check: ok\n");
    return 0;
}
