/* /hogs/hog6 - see hog.h */
#define HOG_ID 6
#define HOG_MB 48
#include "hog.h"
