/* /hogs/hog2 - see hog.h */
#define HOG_ID 2
#define HOG_MB 48
#include "hog.h"
