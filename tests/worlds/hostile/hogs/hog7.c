/* /hogs/hog7 - see hog.h */
#define HOG_ID 7
#define HOG_MB 48
#include "hog.h"
