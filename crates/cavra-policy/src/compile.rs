//! placeholder
pub struct CompiledPack;
pub struct CompiledRule;
pub fn compile() {}
