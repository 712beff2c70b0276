// A thin C layer over libjpeg-turbo. libjpeg reports errors by longjmp; every setjmp lives in
// this file, so no Swift frame is ever jumped over. Only cjpeg_encode allocates memory for the caller.
#pragma once
#include <stddef.h>

#define CJPEG_MESSAGE_LENGTH 256

typedef struct {
    int image_width;      // as stored in the file
    int image_height;
    int output_width;     // after DCT-domain scaling
    int output_height;
    int output_components;  // 1 (gray) or 3 (RGB)
    int file_components;    // components stored in the file
    int is_cmyk;            // 1 for CMYK / YCCK files (converted to RGB on output)
    int is_progressive;
} cjpeg_info;

// Reads the header and computes the output size for 1/scale_denominator (1, 2, 4 or 8) and the
// requested output (want_gray = 1: one channel, else RGB). Returns 0, or -1 with `message` set.
int cjpeg_probe(const unsigned char *data, size_t size, int scale_denominator, int want_gray,
                cjpeg_info *info, char message[CJPEG_MESSAGE_LENGTH]);

// Decodes into `pixels` (output_height rows of output_width * output_components bytes, as given by
// cjpeg_probe with the same arguments). With strict = 1 any libjpeg warning (truncated data,
// corrupt entropy data) is an error. Returns 0, or -1 with `message` set.
int cjpeg_decode(const unsigned char *data, size_t size, int scale_denominator, int want_gray, int strict,
                 unsigned char *pixels, size_t pixels_size, char message[CJPEG_MESSAGE_LENGTH]);

// Encodes 8-bit pixels (height rows of width * components bytes; components 1 = gray, 3 = RGB) as a
// baseline JPEG at quality 1-100 (libjpeg's scale; colour is subsampled 4:2:0). On success returns 0
// and sets *jpeg to a buffer of *jpeg_size bytes that the caller releases with cjpeg_free; on failure
// returns -1 with `message` set and nothing to release.
int cjpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality,
                 unsigned char **jpeg, size_t *jpeg_size, char message[CJPEG_MESSAGE_LENGTH]);

void cjpeg_free(unsigned char *jpeg);
