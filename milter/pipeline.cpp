// pipeline.cpp - placeholder translation unit until the stages land.
