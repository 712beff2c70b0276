#include "cjpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    int strict;
    char *message;
} error_manager;

static void format_message(j_common_ptr cinfo) {
    error_manager *errors = (error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    errors->base.format_message(cinfo, text);
    snprintf(errors->message, CJPEG_MESSAGE_LENGTH, "%s", text);
}

static void on_error(j_common_ptr cinfo) {
    format_message(cinfo);
    longjmp(((error_manager *)cinfo->err)->escape, 1);
}

// msg_level -1 is a warning: libjpeg would otherwise fill missing data with grey and "succeed".
static void on_message(j_common_ptr cinfo, int msg_level) {
    error_manager *errors = (error_manager *)cinfo->err;
    if (msg_level == -1 && errors->strict) {
        format_message(cinfo);
        longjmp(errors->escape, 1);
    }
}

static void silent_output(j_common_ptr cinfo) { (void)cinfo; }

// Sets up decompression up to jpeg_calc_output_dimensions. Must be called inside the setjmp scope.
static void start(struct jpeg_decompress_struct *cinfo, const unsigned char *data, size_t size,
                  int scale_denominator, int want_gray) {
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    cinfo->scale_num = 1;
    cinfo->scale_denom = (unsigned int)scale_denominator;
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    if (cmyk) {
        cinfo->out_color_space = JCS_CMYK;  // converted to RGB row by row below
    } else {
        cinfo->out_color_space = want_gray ? JCS_GRAYSCALE : JCS_RGB;
    }
    cinfo->dct_method = JDCT_ISLOW;
    jpeg_calc_output_dimensions(cinfo);
}

static void fill_info(const struct jpeg_decompress_struct *cinfo, int want_gray, cjpeg_info *info) {
    info->image_width = (int)cinfo->image_width;
    info->image_height = (int)cinfo->image_height;
    info->output_width = (int)cinfo->output_width;
    info->output_height = (int)cinfo->output_height;
    info->file_components = cinfo->num_components;
    info->is_cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    info->is_progressive = cinfo->progressive_mode ? 1 : 0;
    info->output_components = want_gray ? 1 : 3;
}

static struct jpeg_error_mgr *init_errors(error_manager *errors, int strict, char *message) {
    jpeg_std_error(&errors->base);
    errors->base.error_exit = on_error;
    errors->base.emit_message = on_message;
    errors->base.output_message = silent_output;
    errors->strict = strict;
    errors->message = message;
    message[0] = 0;
    return &errors->base;
}

int cjpeg_probe(const unsigned char *data, size_t size, int scale_denominator, int want_gray,
                cjpeg_info *info, char message[CJPEG_MESSAGE_LENGTH]) {
    struct jpeg_decompress_struct cinfo;
    error_manager errors;
    cinfo.err = init_errors(&errors, 0, message);
    jpeg_create_decompress(&cinfo);
    if (setjmp(errors.escape)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    start(&cinfo, data, size, scale_denominator, want_gray);
    fill_info(&cinfo, want_gray, info);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

// Adobe CMYK JPEGs store inverted values; with inverted ink, RGB = C * K / 255 per channel.
static void cmyk_row_to_output(const unsigned char *cmyk, unsigned char *out, int width, int want_gray) {
    for (int x = 0; x < width; x++) {
        int k = cmyk[4 * x + 3];
        int r = cmyk[4 * x] * k / 255, g = cmyk[4 * x + 1] * k / 255, b = cmyk[4 * x + 2] * k / 255;
        if (want_gray) {
            out[x] = (unsigned char)((r * 299 + g * 587 + b * 114 + 500) / 1000);
        } else {
            out[3 * x] = (unsigned char)r;
            out[3 * x + 1] = (unsigned char)g;
            out[3 * x + 2] = (unsigned char)b;
        }
    }
}

int cjpeg_decode(const unsigned char *data, size_t size, int scale_denominator, int want_gray, int strict,
                 unsigned char *pixels, size_t pixels_size, char message[CJPEG_MESSAGE_LENGTH]) {
    struct jpeg_decompress_struct cinfo;
    error_manager errors;
    unsigned char *volatile cmyk_row = NULL;
    cinfo.err = init_errors(&errors, strict, message);
    jpeg_create_decompress(&cinfo);
    if (setjmp(errors.escape)) {
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    start(&cinfo, data, size, scale_denominator, want_gray);
    int is_cmyk = cinfo.out_color_space == JCS_CMYK;
    size_t stride = (size_t)cinfo.output_width * (want_gray ? 1 : 3);
    if (stride * cinfo.output_height > pixels_size) {
        snprintf(message, CJPEG_MESSAGE_LENGTH, "output buffer too small");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    if (is_cmyk) {
        cmyk_row = malloc((size_t)cinfo.output_width * 4);
        if (!cmyk_row) {
            snprintf(message, CJPEG_MESSAGE_LENGTH, "out of memory");
            jpeg_destroy_decompress(&cinfo);
            return -1;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *row = pixels + stride * cinfo.output_scanline;
        if (is_cmyk) {
            JSAMPROW rows[1] = {cmyk_row};
            jpeg_read_scanlines(&cinfo, rows, 1);
            cmyk_row_to_output(cmyk_row, row, (int)cinfo.output_width, want_gray);
        } else {
            JSAMPROW rows[1] = {row};
            jpeg_read_scanlines(&cinfo, rows, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    free(cmyk_row);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

// An in-memory destination that doubles its malloc'd buffer when full. Unlike jpeg_mem_dest, the
// buffer in use is always known, so the error path can free it.
typedef struct {
    struct jpeg_destination_mgr base;
    unsigned char *buffer;
    size_t capacity;
} growing_destination;

static void start_destination(j_compress_ptr cinfo) { (void)cinfo; }

static void finish_destination(j_compress_ptr cinfo) { (void)cinfo; }

// Called only when the whole buffer is full.
static boolean grow_destination(j_compress_ptr cinfo) {
    growing_destination *destination = (growing_destination *)cinfo->dest;
    size_t capacity = destination->capacity * 2;
    unsigned char *bigger = realloc(destination->buffer, capacity);
    if (!bigger) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    destination->base.next_output_byte = bigger + destination->capacity;
    destination->base.free_in_buffer = capacity - destination->capacity;
    destination->buffer = bigger;
    destination->capacity = capacity;
    return TRUE;
}

int cjpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality,
                 unsigned char **jpeg, size_t *jpeg_size, char message[CJPEG_MESSAGE_LENGTH]) {
    struct jpeg_compress_struct cinfo;
    error_manager errors;
    growing_destination destination;
    destination.capacity = (size_t)width * (size_t)height * (size_t)components / 4 + 4096;
    destination.buffer = malloc(destination.capacity);
    if (!destination.buffer) {
        snprintf(message, CJPEG_MESSAGE_LENGTH, "out of memory");
        return -1;
    }
    destination.base.next_output_byte = destination.buffer;
    destination.base.free_in_buffer = destination.capacity;
    destination.base.init_destination = start_destination;
    destination.base.empty_output_buffer = grow_destination;
    destination.base.term_destination = finish_destination;
    cinfo.err = init_errors(&errors, 0, message);
    jpeg_create_compress(&cinfo);
    if (setjmp(errors.escape)) {
        free(destination.buffer);
        jpeg_destroy_compress(&cinfo);
        return -1;
    }
    cinfo.dest = &destination.base;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.optimize_coding = TRUE;  // smaller files for a second pass over the coefficients in memory
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        // libjpeg's row type is not const, but compression only reads the rows.
        JSAMPROW rows[1] = {(JSAMPROW)(pixels + stride * cinfo.next_scanline)};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *jpeg = destination.buffer;
    *jpeg_size = destination.capacity - destination.base.free_in_buffer;
    return 0;
}

void cjpeg_free(unsigned char *jpeg) { free(jpeg); }
