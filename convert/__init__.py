"""TFLite (LiteRT) conversion for phone GPU and NPU delegates."""
