"""Amaranth HDL of the digital side of one OXBNN XPU, and of a chip of X of them.

One block per module, named after its class: :class:`~oxbnn.rtl.xpu.Xpu` (top),
:class:`~oxbnn.rtl.host_if.HostIf`, :class:`~oxbnn.rtl.tile_buffer.TileBuffer`,
:class:`~oxbnn.rtl.sequencer.Sequencer`, :class:`~oxbnn.rtl.address_gen.AddressGen` with its
:class:`~oxbnn.rtl.gearbox.Gearbox` per XPE and slot, and
:class:`~oxbnn.rtl.pca_readout.PcaReadout`; :class:`~oxbnn.rtl.chip.Chip` puts X XPUs behind a
shared global buffer; :mod:`oxbnn.rtl.export` writes Verilog. All are
parametrised by :class:`~oxbnn.models.configs.XpuParams`; their cycle counts are
:mod:`oxbnn.models.timing`.
"""
