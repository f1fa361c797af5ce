/* /hogs/hog1 - see hog.h */
#define HOG_ID 1
#define HOG_MB 48
#include "hog.h"
