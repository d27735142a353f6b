#ifndef KENNEL_HDF5_SHIM_H
#define KENNEL_HDF5_SHIM_H
// HDF5 (Debian's libhdf5-dev, serial build): reading the weights and string attributes of Keras files. The native
// type ids are macros over library globals, and a string attribute comes in four shapes (scalar or array, variable
// or fixed length), so both are handled here and Swift sees plain functions.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

static inline hid_t kennel_h5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kennel_h5_default(void) { return H5P_DEFAULT; }
static inline hid_t kennel_h5_all(void) { return H5S_ALL; }
static inline unsigned kennel_h5_read_only(void) { return H5F_ACC_RDONLY; }

/// Silences HDF5's error stack printing (every failed probe would print a trace); errors still return < 0.
static inline void kennel_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Reads the string attribute `name` of the object at `path` below `location` into `*values` (`*count` strings,
/// each malloc'ed, then the array); free with kennel_h5_free_strings. Returns 0, or -1 when there is no such
/// attribute or it is not a string.
static inline int kennel_h5_read_strings(hid_t location, const char *path, const char *name, char ***values,
                                         size_t *count) {
    *values = NULL;
    *count = 0;
    if (H5Aexists_by_name(location, path, name, H5P_DEFAULT) <= 0) return -1;
    hid_t attribute = H5Aopen_by_name(location, path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0) return -1;
    int result = -1;
    hid_t type = H5Aget_type(attribute);
    hid_t space = H5Aget_space(attribute);
    if (type >= 0 && space >= 0 && H5Tget_class(type) == H5T_STRING) {
        hssize_t elements = H5Sget_simple_extent_npoints(space);
        char **strings = elements > 0 ? calloc((size_t)elements, sizeof(char *)) : NULL;
        if (elements == 0) {
            result = 0;
        } else if (strings && H5Tis_variable_str(type) > 0) {
            hid_t memory = H5Tcopy(H5T_C_S1);
            H5Tset_size(memory, H5T_VARIABLE);
            H5Tset_cset(memory, H5Tget_cset(type));
            char **read = calloc((size_t)elements, sizeof(char *));
            if (read && H5Aread(attribute, memory, read) >= 0) {
                for (hssize_t i = 0; i < elements; i++) strings[i] = strdup(read[i] ? read[i] : "");
                H5Dvlen_reclaim(memory, space, H5P_DEFAULT, read);
                result = 0;
            }
            free(read);
            H5Tclose(memory);
        } else if (strings) {
            size_t size = H5Tget_size(type);
            char *buffer = calloc((size_t)elements, size + 1);
            hid_t memory = H5Tcopy(type);
            if (buffer && H5Aread(attribute, memory, buffer) >= 0) {
                for (hssize_t i = 0; i < elements; i++) strings[i] = strndup(buffer + (size_t)i * size, size);
                result = 0;
            }
            free(buffer);
            H5Tclose(memory);
        }
        if (result == 0) {
            *values = strings;
            *count = (size_t)(elements > 0 ? elements : 0);
        } else {
            free(strings);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attribute);
    return result;
}

static inline void kennel_h5_free_strings(char **values, size_t count) {
    for (size_t i = 0; i < count; i++) free(values[i]);
    free(values);
}

/// Whether `path` names a link below `location`, checking each step (H5Lexists requires the parents to exist).
static inline int kennel_h5_exists(hid_t location, const char *path) {
    char buffer[1024];
    size_t length = strlen(path);
    if (length >= sizeof buffer) return 0;
    memcpy(buffer, path, length + 1);
    for (size_t i = 1; i <= length; i++) {
        if (buffer[i] == '/' || buffer[i] == '\0') {
            char saved = buffer[i];
            buffer[i] = '\0';
            if (H5Lexists(location, buffer, H5P_DEFAULT) <= 0) return 0;
            buffer[i] = saved;
        }
    }
    return 1;
}
#endif
