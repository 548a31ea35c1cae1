"""cocotb testbenches coupling the XPU RTL to the optical models."""
